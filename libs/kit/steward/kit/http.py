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
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from steward.kit import metrics
from steward.kit.auth import Principal, TokenVerifier, bearer_token
from steward.kit.db import Database, is_invalid_data, is_retryable_conflict
from steward.kit.errors import DomainError, pydantic_details

log = structlog.get_logger(__name__)

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
        "request_id": getattr(request.state, "request_id", None),
    }
    if details:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


class RequestContextMiddleware:
    """Request id (``X-Request-ID`` in and out), structlog context and latency metrics; pure ASGI."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

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
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, _send)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            metrics.HTTP_LATENCY.labels(
                self.service, scope["method"], path, str(status_holder["status"])
            ).observe(time.perf_counter() - start)


def create_app(
    *,
    service: str,
    title: str,
    version: str,
    description: str = "",
    routers: Sequence[APIRouter] = (),
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
    readiness: Sequence[tuple[str, ReadinessCheck]] = (),
) -> FastAPI:
    app = FastAPI(title=title, version=version, description=description, lifespan=lifespan)
    app.state.readiness = list(readiness)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return error_response(exc.status_code, exc.code, exc.message, request, exc.details)

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
        log.exception("http.database_error", path=request.url.path)
        response = error_response(500, "internal_error", "internal error", request)
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("http.unhandled", path=request.url.path)
        # Starlette runs this handler in its outermost middleware, outside RequestContextMiddleware,
        # so the request id header is set here.
        request_id = getattr(request.state, "request_id", None)
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
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in routers:
        app.include_router(router)
    app.add_middleware(RequestContextMiddleware, service=service)
    app.add_middleware(OpenTelemetryMiddleware, excluded_urls="healthz,readyz,metrics")
    return app


def principal_dependency(verifier_attr: str = "verifier") -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency returning the verified :class:`Principal` of the request."""

    async def _principal(request: Request) -> Principal:
        verifier: TokenVerifier = getattr(request.app.state, verifier_attr)
        principal = await verifier.averify(bearer_token(request.headers.get("authorization")))
        structlog.contextvars.bind_contextvars(sub=principal.subject, tenant=principal.tenant)
        return principal

    return _principal


current_principal = principal_dependency()


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


PrincipalDep = Annotated[Principal, Depends(current_principal)]
DatabaseDep = Annotated[Database, Depends(database)]
