"""The tenant gate on gRPC: a user token whose tenant the platform does not know is refused
(PERMISSION_DENIED, ``error-code: unknown_token_tenant``) on every method, as the REST tenant gate
refuses it with 403 — never answered with NOT_FOUND or an empty list. Service principals (tenant
``*``), health and reflection pass; a token that does not verify is left to the handler, which
refuses it as it always did."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from steward.kit.auth import Principal, TokenVerifier, bearer_token
from steward.kit.errors import DomainError
from steward.kit.transient import is_transient

Gate = Callable[[Principal], Awaitable[None]]
_UNGATED = ("/grpc.health.", "/grpc.reflection.")


class TenantGateInterceptor(grpc.aio.ServerInterceptor):
    """``gate()`` returns the service's tenant gate (or None) at call time: the app sets it after
    the server is built (``ServiceRuntime.tenant_gate``)."""

    def __init__(self, verifier: TokenVerifier, gate: Callable[[], Gate | None]) -> None:
        self.verifier = verifier
        self.gate = gate

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None or str(details.method).startswith(_UNGATED):
            return handler
        inner = handler.unary_unary
        verifier, gate_of = self.verifier, self.gate

        async def _gated(request: Any, context: grpc.aio.ServicerContext) -> Any:
            gate = gate_of()
            if gate is not None:
                metadata = dict(context.invocation_metadata() or ())
                value = metadata.get("authorization")
                try:
                    principal = await verifier.averify(
                        bearer_token(value if isinstance(value, str) else None)
                    )
                except DomainError:
                    principal = None  # the handler refuses the token itself
                if principal is not None:
                    try:
                        await gate(principal)
                    except DomainError as exc:
                        await context.abort(
                            exc.grpc_code, exc.message, trailing_metadata=(("error-code", exc.code),)
                        )
                    except Exception as exc:
                        if not is_transient(exc):
                            raise
                        await context.abort(
                            grpc.StatusCode.UNAVAILABLE,
                            "a dependency is unavailable; retry later",
                            trailing_metadata=(("error-code", "unavailable"),),
                        )
            return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            _gated,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
