"""HTTP hardening every service gets from :func:`steward.kit.http.create_app`:

- security headers (``nosniff``, no framing, ``no-store`` on API JSON, HSTS outside dev/test);
- a request body limit: 413 from ``Content-Length`` before anything is read, and 413 as soon as a
  streamed body passes ``STEWARD_MAX_BODY_BYTES`` (the rest is never read);
- per-address rate limiting of requests without a token (429 + ``Retry-After``; requests with
  one are limited per principal and, when forged, per address: :func:`steward.kit.limits.authenticate`);
- ``/metrics`` behind ``STEWARD_METRICS_TOKEN`` when it is set;
- ``/docs`` served from the ``swagger-ui-bundle`` wheel: no asset from a public CDN (intranets
  cannot reach one); ``/redoc`` (CDN only) is not served.

The settings are the runtime's (``app.state.runtime.settings``), else ``app.state.settings``, else
the ones given to ``create_app``, else :class:`ServiceSettings` from the environment; they are
resolved at the first request, after the lifespan wired the app.
"""

from __future__ import annotations

import hmac
import json
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from steward.kit import limits, seclog
from steward.kit.errors import Unauthenticated
from steward.kit.settings import ServiceSettings

DOCS_ASSETS = "/docs/assets"
API_CSP = b"default-src 'none'; frame-ancestors 'none'"
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'"
)
_UNLIMITED_PATHS = ("/healthz", "/readyz", "/metrics")


def settings_of(app: Any) -> ServiceSettings:
    state = app.state
    runtime = getattr(state, "runtime", None)
    for candidate in (
        getattr(runtime, "settings", None),
        getattr(state, "settings", None),
        getattr(state, "kit_settings", None),
    ):
        if isinstance(candidate, ServiceSettings):
            return candidate
    fallback = ServiceSettings()
    state.kit_settings = fallback
    return fallback


class PayloadTooLarge(StarletteHTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class SecurityMiddleware:
    """Pure ASGI: per-address limit, body limit and response headers, inside the request-id
    middleware (so refusals carry a request id and are measured)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fastapi_app = scope["app"]
        settings = settings_of(fastapi_app)
        guard = limits.guard_of(fastapi_app, settings)
        headers = dict(scope.get("headers") or [])
        path: str = scope.get("path", "")

        # requests with a token are limited per principal once it is verified (many users may share
        # one address: the console, a NAT), and forged tokens per address (steward.kit.limits)
        if path not in _UNLIMITED_PATHS and b"authorization" not in headers:
            wait = guard.admit_address(limits.client_address(scope))
            if wait:
                seclog.rate_limited(self.service, "address", limits.client_address(scope), path)
                await _send_error(
                    scope,
                    send,
                    429,
                    "too_many_requests",
                    "too many requests from this address; retry later",
                    [(b"retry-after", str(math.ceil(wait)).encode())],
                )
                return

        limit = getattr(fastapi_app.state, "body_limits", {}).get(path, settings.max_body_bytes)
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > limit
            except ValueError:
                too_large = False  # the server refuses a malformed length itself
            if too_large:
                await _send_error(
                    scope, send, 413, "payload_too_large", f"the request body is larger than {limit} bytes"
                )
                return

        received = 0

        async def _receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(limit)  # answered 413 by the app's HTTP error handler
            return message

        hsts = (
            f"max-age={settings.hsts_seconds}; includeSubDomains".encode()
            if not settings.is_dev and settings.hsts_seconds
            else None
        )

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _with_security_headers(list(message.get("headers") or []), hsts)
            await send(message)

        await self.app(scope, _receive, _send)


def _with_security_headers(raw: list[tuple[bytes, bytes]], hsts: bytes | None) -> list[tuple[bytes, bytes]]:
    present = {k.lower() for k, _ in raw}
    content_type = next((v for k, v in raw if k.lower() == b"content-type"), b"").lower()
    is_json = b"json" in content_type
    extra = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"content-security-policy", API_CSP if is_json else b"frame-ancestors 'none'"),
    ]
    if is_json:
        extra.append((b"cache-control", b"no-store"))
    if hsts is not None:
        extra.append((b"strict-transport-security", hsts))
    out = [(k, v) for k, v in raw if k.lower() != b"server"]
    out.extend((k, v) for k, v in extra if k not in present)
    return out


async def _send_error(
    scope: Scope,
    send: Send,
    status: int,
    code: str,
    message: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    request_id = (scope.get("state") or {}).get("request_id")
    body = json.dumps(
        {"error": {"code": code, "message": message, "details": [], "request_id": request_id}}
    ).encode()
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the unread rest of a refused body is not waited for
        *(headers or []),
    ]
    await send(
        {"type": "http.response.start", "status": status, "headers": _with_security_headers(raw, None)}
    )
    await send({"type": "http.response.body", "body": body})


def check_metrics_token(request: Request) -> None:
    """``/metrics`` needs ``Authorization: Bearer <STEWARD_METRICS_TOKEN>`` when that is set."""
    token = settings_of(request.app).metrics_token
    if token is None:
        return
    scheme, _, given = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.get_secret_value().encode()
    ):
        raise Unauthenticated("metrics need the metrics bearer token", code="metrics_token_required")


def allow_larger_body(app: FastAPI, path: str, limit: int) -> None:
    """A larger body limit than ``STEWARD_MAX_BODY_BYTES`` for one upload path (a spreadsheet
    import): the route checks its own size limit on top."""
    limits_by_path: dict[str, int] = getattr(app.state, "body_limits", {})
    limits_by_path[path] = limit
    app.state.body_limits = limits_by_path


def install(app: FastAPI, *, service: str, settings: ServiceSettings | None = None) -> None:
    """Wire the middleware and the local docs into an app made by ``create_app`` (call it before the
    request-id middleware is added, so this one runs inside it)."""
    if settings is not None:
        app.state.kit_settings = settings
    seclog.SERVICE_NAME[0] = service
    app.add_middleware(SecurityMiddleware, service=service)
    _local_docs(app)


def _local_docs(app: FastAPI) -> None:
    from swagger_ui_bundle import swagger_ui_path

    drop = {app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in drop]
    app.redoc_url = None
    app.swagger_ui_oauth2_redirect_url = None
    if app.docs_url is None:
        return
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    async def swagger_ui() -> HTMLResponse:
        if app.openapi_url is None:
            raise StarletteHTTPException(404, "Not Found")
        response = get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} - API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )
        response.headers["content-security-policy"] = DOCS_CSP
        return response

    app.add_api_route(app.docs_url, swagger_ui, methods=["GET"], include_in_schema=False)
