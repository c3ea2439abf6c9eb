"""One call of another service's gRPC API, as the platform's clients make it: the caller's token if
it passes one, else the service's own; a deadline; the callee's status mapped to the caller's error.

The service's own token can be refused as expired although this process still counted it valid:
the call took longer than the token's last margin (a loaded machine, a wait in the callee's queue),
or the callee's clock runs ahead. Then the token is dropped, a new one fetched (one fetch for all
callers), and the call made once more. A refusal of the service's own token after that is 503
``service_token_rejected`` — the end user's credentials are not at fault, so never a 401 to them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc

from steward.kit.auth import ServiceTokenRejected
from steward.kit.auth_tokens import ServiceTokens, service_tokens
from steward.kit.errors import DomainError
from steward.kit.grpc import bearer_metadata, client_channel
from steward.kit.settings import ServiceSettings

TokenSource = Callable[[], str | Awaitable[str]]


class OwnToken:
    """The token a client presents when its caller passes none: the given source, else the
    process-wide :class:`ServiceTokens` of the settings (which can fetch a new one)."""

    def __init__(self, settings: ServiceSettings, given: TokenSource | None = None) -> None:
        self._given = given
        self._tokens: ServiceTokens | None = None if given is not None else service_tokens(settings)

    async def value(self) -> str:
        if self._tokens is not None:
            return await self._tokens.token()
        assert self._given is not None
        value = self._given()
        return value if isinstance(value, str) else await value

    async def renewed(self, rejected: str) -> str | None:
        """A token other than ``rejected``, or None when there is no other to be had (a static or
        dev token, a given source)."""
        if self._tokens is None:
            return None
        value = await self._tokens.renewed(rejected)
        return value if value != rejected else None


def error_code(exc: grpc.aio.AioRpcError) -> str:
    """The callee's machine-readable error code (trailing metadata ``error-code``), else ''."""
    for key, value in exc.trailing_metadata() or ():
        if key == "error-code":
            return value if isinstance(value, str) else value.decode()
    return ""


async def call(
    rpc: Callable[..., Awaitable[Any]],
    request: object,
    *,
    token: str | None,
    own: OwnToken,
    deadline: float,
    errors: Mapping[grpc.StatusCode, type[DomainError]],
    unavailable: Callable[[grpc.aio.AioRpcError], DomainError],
) -> Any:
    """``rpc(request)`` within ``deadline`` seconds, with ``token`` (the caller's) or the service's
    own (renewed once when the callee finds it expired). ``errors`` maps the callee's status to the
    caller's error; any other status is ``unavailable(exc)``."""
    value = token or await own.value()
    renewed = False
    while True:
        try:
            return await rpc(request, metadata=bearer_metadata(value), timeout=deadline)
        except grpc.aio.AioRpcError as exc:
            if token is None and exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                if not renewed and error_code(exc) == "token_expired":
                    fresh = await own.renewed(value)
                    if fresh is not None:
                        value, renewed = fresh, True
                        continue
                raise ServiceTokenRejected(
                    f"the called service refused this service's own token: {exc.details()}"
                ) from exc
            error = errors.get(exc.code())
            if error is not None:
                raise error(exc.details() or exc.code().name) from exc
            raise unavailable(exc) from exc


class GrpcClient:
    """One service's gRPC API for the others: the channel opened on first use (grpc.aio channels
    belong to the event loop they are created in), each call made by :func:`call`. A subclass names
    the ``stub`` type, the ``errors`` it maps and the ``unavailable`` error of any other status."""

    stub: Any
    errors: Mapping[grpc.StatusCode, type[DomainError]]
    unavailable: type[DomainError]
    service: str

    def __init__(
        self, settings: ServiceSettings, target: str, *, token: TokenSource | None, timeout: float
    ) -> None:
        self.target, self.timeout = target, timeout
        self._channel: grpc.aio.Channel | None = None
        self._stub: Any = None
        # the service's own token (OAuth2 client credentials, refreshed; static or dev), or the given one
        self._own = OwnToken(settings, token)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel, self._stub = None, None

    async def _call(self, method: str, request: object, token: str | None) -> object:
        if self._stub is None:
            self._channel = client_channel(self.target)
            self._stub = self.stub(self._channel)
        return await call(
            getattr(self._stub, method),
            request,
            token=token,
            own=self._own,
            deadline=self.timeout,
            errors=self.errors,
            unavailable=lambda exc: self.unavailable(f"{self.service} {method} failed: {exc.code().name}"),
        )


__all__ = ["GrpcClient", "OwnToken", "TokenSource", "call", "error_code"]
