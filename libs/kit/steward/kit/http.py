"""FastAPI app factory: health and readiness, Prometheus metrics, request ids, one error format."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from opentelemetry import propagate, trace
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from steward.kit import apidoc, limits, metrics, overload, seclog, security, telemetry
from steward.kit.auth import Principal, TokenVerifier
from steward.kit.db import Database, is_invalid_data, is_retryable_conflict
from steward.kit.errors import DomainError, pydantic_details
from steward.kit.logs import THROTTLED
from steward.kit.settings import ServiceSettings
from steward.kit.transient import is_transient

log = structlog.get_logger(__name__)
_access = structlog.get_logger("steward.access")
# probes and scrapes: every few seconds from the platform, nothing a reader of the access log wants
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
RETRY_AFTER_UNAVAILABLE = "5"  # seconds, on every 503: a dependency restarting is back by then

ReadinessCheck = Callable[[], Awaitable[dict[str, Any]]]

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
}


def error_response(
    status: int,
    code: str,
    message: str,
    request: Request,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "code": code,
        "message": message,
        "details": details or [],  # always present (empty when there is nothing to add)
        "request_id": getattr(request.state, "request_id", None),
    }
    return JSONResponse({"error": body}, status_code=status, headers=headers)


class RequestContextMiddleware:
    """Request id (``X-Request-ID`` in and out), structlog context and latency metrics; pure ASGI."""

    def __init__(self, app: ASGIApp, service: str, *, access_log: bool = True) -> None:
        self.app = app
        self.service = service
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")[:128]
        request_id = incoming or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status_holder = {"status": 500}
        start = time.perf_counter()

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                span = trace.get_current_span()  # the server span ends with the body: name it now
                route_path = getattr(scope.get("route"), "path", None)
                if route_path and span.is_recording():  # "GET /v1/matters/{number}", not one per matter
                    span.update_name(f"{scope['method']} {route_path}")
                    span.set_attribute("http.route", route_path)
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, _send)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            status = status_holder["status"]
            metrics.HTTP_LATENCY.labels(self.service, scope["method"], path, str(status)).observe(elapsed)
            if self.access_log and path not in _QUIET_ROUTES:
                _access.info(
                    "http.access",
                    method=scope["method"],
                    route=path,
                    path=scope.get("path"),
                    status=status,
                    duration_ms=round(elapsed * 1000, 1),
                )
            structlog.contextvars.unbind_contextvars("request_id", "sub", "tenant")


class TraceContextMiddleware:
    """The request's place in its trace. While spans are exported: OpenTelemetry's ASGI middleware
    (a server span with the request's attributes). Otherwise only what the trace needs — the
    caller's ``traceparent`` read and a server span with ids of its own made current (dropped, as
    every span then is), so log lines, outgoing calls and events carry the trace — without
    collecting the attributes of a span nobody records (8 µs a request instead of 41 µs)."""

    def __init__(self, app: ASGIApp, /, **otel: Any) -> None:
        self.app = app
        self.otel = otel
        self._full: ASGIApp | None = None  # built on the first request while spans are exported
        self.fields = {f.encode() for f in propagate.get_global_textmap().fields}
        self.tracer = trace.get_tracer("steward.kit.http")

    @property
    def full(self) -> ASGIApp:
        if self._full is None:
            from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

            self._full = OpenTelemetryMiddleware(self.app, **self.otel)
        return self._full

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # no span (OpenTelemetry's middleware passes it through too)
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http" or telemetry.exporting():
            await self.full(scope, receive, send)
            return
        carrier = {k.decode(): v.decode("latin-1") for k, v in scope.get("headers") or () if k in self.fields}
        parent = propagate.extract(carrier) if carrier else None
        with self.tracer.start_as_current_span("HTTP", context=parent, kind=trace.SpanKind.SERVER):
            await self.app(scope, receive, send)


def create_app(
    *,
    service: str,
    title: str,
    version: str,
    description: str = "",
    routers: Sequence[APIRouter] = (),
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
    readiness: Sequence[tuple[str, ReadinessCheck]] = (),
    settings: ServiceSettings | None = None,
) -> FastAPI:
    # the overload gate sits in front of the whole application: a refusal under overload costs no
    # span, no access-log line, no token check and none of Starlette's middleware
    app = overload.GatedFastAPI(
        title=title,
        version=version,
        description=description,
        lifespan=lifespan,
        service=service,
        # the kit carries the trace (TraceContextMiddleware) and counts requests (Prometheus):
        # FastAPI's own OpenTelemetry spans, metrics and logs would do it all a second time
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.readiness = list(readiness)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        if exc.status_code in (401, 403):
            _security_log(request, exc)
        # a dependency unavailable (another service, the service's own token): retry later, and
        # say when, like a database outage does
        headers = {"Retry-After": RETRY_AFTER_UNAVAILABLE} if exc.status_code == 503 else None
        return error_response(exc.status_code, exc.code, exc.message, request, exc.details, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = pydantic_details(list(exc.errors()))
        return error_response(422, "validation_failed", "request is not valid", request, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        # keep the exception's headers: ``Allow`` on 405, ``WWW-Authenticate`` on 401
        return error_response(exc.status_code, code, str(exc.detail), request, headers=exc.headers)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        if is_retryable_conflict(exc):
            # a deadlock, serialization failure or lock timeout rolled the transaction back: nothing
            # was written, and the same request can simply be sent again
            return error_response(
                409,
                "concurrent_update",
                "the data changed concurrently; retry the request",
                request,
                headers={"Retry-After": "1"},
            )
        if is_invalid_data(exc):
            return error_response(
                422, "invalid_data", "the request contains data the database cannot store", request
            )
        if is_transient(exc):
            return _unavailable(request, exc)
        log.exception("http.database_error", path=request.url.path)
        response = error_response(500, "internal_error", "internal error", request)
        return response

    @app.exception_handler(OSError)
    async def _connection(request: Request, exc: OSError) -> JSONResponse:
        # a refused or reset connection (the database restarting, seen while the pool connects)
        # is answered here, inside the middleware stack: the handler for Exception below runs in
        # Starlette's outermost middleware, which re-raises after answering — a traceback per request
        if is_transient(exc):
            return _unavailable(request, exc)
        log.exception("http.unhandled", path=request.url.path)
        return error_response(500, "internal_error", "internal error", request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette runs this handler in its outermost middleware, outside RequestContextMiddleware,
        # so the request id header is set here.
        request_id = getattr(request.state, "request_id", None)
        if is_transient(exc):
            response = _unavailable(request, exc)
            if request_id:
                response.headers["x-request-id"] = request_id
            return response
        log.exception("http.unhandled", path=request.url.path)
        return error_response(
            500,
            "internal_error",
            "internal error",
            request,
            headers={"x-request-id": request_id} if request_id else None,
        )

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        checks: dict[str, Any] = {}
        ready = True
        for name, check in app.state.readiness:
            try:
                detail = await check()
                checks[name] = {"ok": True, **detail}
            except Exception as exc:
                ready = False
                checks[name] = {"ok": False, "error": str(exc)[:300]}
        # which process answered: a runner that started this service checks it is its own
        body: dict[str, Any] = {"ready": ready, "checks": checks}
        instance = getattr(app.state, "instance", None)
        if instance:
            body["instance"] = instance
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Response:
        security.check_metrics_token(request)  # STEWARD_METRICS_TOKEN, when set
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in routers:
        app.include_router(router)
    security.install(app, service=service, settings=settings)  # headers, limits, /docs; outer
    app.add_middleware(
        RequestContextMiddleware, service=service, access_log=settings.access_log if settings else True
    )
    # one server span per request; the instrumentation's own "http receive" / "http send" child
    # spans (two or three per request) tell an operator nothing the server span doesn't, and cost
    # a share of every request's CPU
    app.add_middleware(
        TraceContextMiddleware, excluded_urls="healthz,readyz,metrics", exclude_spans=["receive", "send"]
    )
    # OpenAPI documents the error bodies above (not FastAPI's {"detail": ...}), servers, security
    apidoc.install(app, service=service, settings=settings)
    return app


# Declares the bearer scheme in OpenAPI (each authenticated operation lists it under ``security``,
# and apidoc adds its 401/403 responses); the token itself is read and verified below.
BEARER_SCHEME = HTTPBearer(
    auto_error=False, bearerFormat="JWT", description="JWT with `sub`, `tenant` and `roles` claims"
)
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER_SCHEME)]


def _unavailable(request: Request, exc: BaseException) -> JSONResponse:
    """A dependency is down (the database restarting, a service unreachable): 503 and retry later,
    logged once per interval with a count rather than a traceback per request."""
    THROTTLED.warning("http.dependency_unavailable", key=type(exc).__name__, error=str(exc)[:200])
    return error_response(
        503,
        "unavailable",
        "a service this request needs is unavailable; retry later",
        request,
        headers={"Retry-After": RETRY_AFTER_UNAVAILABLE},
    )


def _security_log(request: Request, exc: DomainError) -> None:
    principal = getattr(request.state, "principal", None)
    seclog.refused(
        transport="http",
        status=exc.status_code,
        reason=exc.code,
        message=exc.message,
        address=limits.client_address(request.scope),
        what=f"{request.method} {request.url.path}",
        principal=principal,
        claimed=None if principal else limits.claimed_subject(request.headers.get("authorization")),
    )


def principal_dependency(verifier_attr: str = "verifier") -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency returning the verified :class:`Principal` of the request."""

    async def _principal(request: Request, _scheme: BearerCredentials = None) -> Principal:
        verifier: TokenVerifier = getattr(request.app.state, verifier_attr)
        principal = await limits.authenticate(request, verifier)  # + rate limits, tenant gate
        structlog.contextvars.bind_contextvars(sub=principal.subject, tenant=principal.tenant)
        return principal

    return _principal


current_principal = principal_dependency()


async def database(request: Request) -> Database:  # async: a plain def runs in the thread pool
    db: Database = request.app.state.db
    return db


PrincipalDep = Annotated[Principal, Depends(current_principal)]
DatabaseDep = Annotated[Database, Depends(database)]
