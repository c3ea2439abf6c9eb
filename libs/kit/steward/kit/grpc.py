"""grpc.aio bootstrap: health service, reflection, OpenTelemetry and metrics interceptors,
domain-error mapping, bearer-token auth from metadata, and client channels with retries."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar, overload

import grpc
import structlog
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from sqlalchemy.exc import DBAPIError

from steward.kit import grpc_reflection, limits, metrics, seclog
from steward.kit.auth import Principal, TokenVerifier, bearer_token
from steward.kit.db import is_invalid_data, is_retryable_conflict
from steward.kit.errors import DomainError
from steward.kit.logs import THROTTLED
from steward.kit.transient import is_transient

log = structlog.get_logger(__name__)

T = TypeVar("T")


@overload
def timestamp(value: datetime) -> Timestamp: ...
@overload
def timestamp(value: None) -> None: ...
@overload
def timestamp(value: datetime | None) -> Timestamp | None: ...
def timestamp(value: datetime | None) -> Timestamp | None:
    """A protobuf ``Timestamp`` of an aware datetime (``None`` stays ``None``: the field is unset)."""
    if value is None:
        return None
    t = Timestamp()
    t.FromDatetime(value)
    return t


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, service: str) -> None:
        self.service = service

    async def intercept_service(
        self, continuation: Any, handler_call_details: grpc.HandlerCallDetails
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method = handler_call_details.method
        inner = handler.unary_unary
        service = self.service

        async def _wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            start = time.perf_counter()
            code = "OK"
            try:
                return await inner(request, context)
            except BaseException:
                code = (
                    (context.code() or grpc.StatusCode.UNKNOWN).name
                    if hasattr(context, "code")
                    else "UNKNOWN"
                )
                raise
            finally:
                metrics.GRPC_LATENCY.labels(service, method, code).observe(time.perf_counter() - start)

        return grpc.unary_unary_rpc_method_handler(
            _wrapped,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _otel_interceptors() -> list[grpc.aio.ServerInterceptor]:
    try:
        from opentelemetry.instrumentation.grpc import aio_server_interceptor
    except ImportError:  # pragma: no cover - optional at runtime
        return []
    return [aio_server_interceptor()]


def _otel_client_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """Client spans, and the caller's trace context sent as ``traceparent`` metadata: the server's
    spans join the caller's trace instead of starting a trace of their own."""
    try:
        from opentelemetry.instrumentation.grpc import aio_client_interceptors
    except ImportError:  # pragma: no cover - optional at runtime
        return []
    return list(aio_client_interceptors())


class GrpcServer:
    """A grpc.aio server with the standard health service and reflection."""

    def __init__(
        self, *, service: str, host: str, port: int, interceptors: Sequence[grpc.aio.ServerInterceptor] = ()
    ):
        self.server = grpc.aio.server(
            interceptors=[*_otel_interceptors(), MetricsInterceptor(service), *interceptors],
            options=[("grpc.so_reuseport", 0)],
        )
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self._services: list[str] = [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name]
        self.bound_port = self.server.add_insecure_port(f"{host}:{port}")
        self.address = f"{host}:{self.bound_port}"

    def add(self, register: Callable[[grpc.aio.Server], None], full_service_name: str) -> None:
        register(self.server)
        self._services.append(full_service_name)

    async def start(self) -> None:
        grpc_reflection.enable(self.server, self._services)  # reflection v1 and v1alpha
        await self.server.start()
        for name in self._services:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace: float) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


def _bearer(context: grpc.aio.ServicerContext) -> str:
    metadata = dict(context.invocation_metadata() or ())
    value = metadata.get("authorization")
    return bearer_token(value if isinstance(value, str) else None)


def principal_of(context: grpc.aio.ServicerContext, verifier: TokenVerifier) -> Principal:
    """The caller (HMAC dev tokens or cached JWKS keys; prefer :func:`aprincipal_of` in handlers)."""
    return verifier.verify(_bearer(context))


async def aprincipal_of(context: grpc.aio.ServicerContext, verifier: TokenVerifier) -> Principal:
    """The caller, verified without blocking the event loop on a JWKS fetch."""
    return await verifier.averify(_bearer(context))


def _security_log(context: grpc.aio.ServicerContext, method: str, exc: DomainError) -> None:
    metadata = dict(context.invocation_metadata() or ())
    authorization = metadata.get("authorization")
    seclog.refused(
        transport="grpc",
        status=exc.status_code,
        reason=exc.code,
        message=exc.message,
        address=str(context.peer() or "unknown"),
        what=method,
        claimed=limits.claimed_subject(authorization if isinstance(authorization, str) else None),
    )


def grpc_errors(fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Map :class:`DomainError` to its gRPC status; anything else becomes INTERNAL (and is logged)."""

    @functools.wraps(fn)
    async def _wrapped(self: Any, request: Any, context: grpc.aio.ServicerContext) -> T:
        try:
            return await fn(self, request, context)
        except DomainError as exc:
            if exc.status_code in (401, 403):
                _security_log(context, fn.__name__, exc)
            await context.abort(exc.grpc_code, exc.message, trailing_metadata=(("error-code", exc.code),))
        except grpc.aio.AbortError:
            raise
        except DBAPIError as exc:
            if is_transient(exc) and not is_retryable_conflict(exc):
                THROTTLED.warning("grpc.dependency_unavailable", key=fn.__name__, error=str(exc)[:200])
                await context.abort(
                    grpc.StatusCode.UNAVAILABLE,
                    "a dependency is unavailable; retry later",
                    trailing_metadata=(("error-code", "unavailable"),),
                )
            if is_invalid_data(exc):
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "the request contains data the database cannot store",
                    trailing_metadata=(("error-code", "invalid_data"),),
                )
            if is_retryable_conflict(exc):
                await context.abort(
                    grpc.StatusCode.ABORTED,
                    "the data changed concurrently; retry",
                    trailing_metadata=(("error-code", "concurrent_update"),),
                )
            log.exception("grpc.database_error", method=fn.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")
        except Exception as exc:
            if is_transient(exc):
                THROTTLED.warning("grpc.dependency_unavailable", key=fn.__name__, error=str(exc)[:200])
                await context.abort(
                    grpc.StatusCode.UNAVAILABLE,
                    "a dependency is unavailable; retry later",
                    trailing_metadata=(("error-code", "unavailable"),),
                )
            log.exception("grpc.unhandled", method=fn.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")
        raise AssertionError("unreachable")  # pragma: no cover

    return _wrapped


# -- clients ----------------------------------------------------------------------------------
_RETRY_POLICY = {
    "methodConfig": [
        {
            "name": [{}],
            "retryPolicy": {
                "maxAttempts": 4,
                "initialBackoff": "0.1s",
                "maxBackoff": "2s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ]
}


def client_channel(target: str) -> grpc.aio.Channel:
    """An insecure (in-cluster; mTLS is the mesh's job) channel that retries UNAVAILABLE with backoff."""
    return grpc.aio.insecure_channel(
        target,
        interceptors=_otel_client_interceptors(),
        options=[
            ("grpc.enable_retries", 1),
            ("grpc.service_config", json.dumps(_RETRY_POLICY)),
            ("grpc.keepalive_time_ms", 30000),
        ],
    )


def bearer_metadata(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)
