"""The kit's gRPC clients calling with the service's own token (steward.kit.clients.calling): a real
gRPC server on 127.0.0.1 verifying RS256 tokens of a local IdP, the real RegistryClient and
ServiceTokens fetching by OAuth2 client credentials. A token that expires while the call waits in
the callee is renewed and the call made again; a refused own token is 503, never the user's 401;
the caller's own token is never swapped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from steward.api.registry.v1 import registry_pb2 as pb
from steward.api.registry.v1 import registry_pb2_grpc as pb_grpc
from steward.kit.auth import ServiceTokenRejected, TokenVerifier
from steward.kit.clients.registry import RegistryClient
from steward.kit.errors import DomainError, Unauthenticated
from steward.kit.grpc import GrpcServer, aprincipal_of, grpc_errors
from steward.kit.settings import ServiceSettings
from steward.kit.testidp import LocalIdP

CLIENT, SECRET = "steward-services", "client-secret"
LIFETIME = 2  # seconds the IdP's tokens live


class Registry(pb_grpc.RegistryServiceServicer):
    """Answers GetTenantAncestry to a verified caller; ``queue_seconds`` holds the first call before
    its token is looked at (a wait in the callee's queue on a loaded machine)."""

    def __init__(self, verifier: TokenVerifier, queue_seconds: float) -> None:
        self.verifier, self.queue_seconds = verifier, queue_seconds
        self.outcomes: list[str] = []

    async def _caller(self, context: grpc.aio.ServicerContext) -> str:
        if not self.outcomes:
            await asyncio.sleep(self.queue_seconds)
        try:
            principal = await aprincipal_of(context, self.verifier)
        except DomainError as exc:
            self.outcomes.append(exc.code)
            raise
        self.outcomes.append("ok")
        return principal.subject

    @grpc_errors
    async def GetTenantAncestry(self, request: Any, context: grpc.aio.ServicerContext) -> pb.TenantAncestry:
        subject = await self._caller(context)
        return pb.TenantAncestry(ancestors=[pb.Tenant(code=request.tenant, name=subject)])

    @grpc_errors
    async def GetProject(self, request: Any, context: grpc.aio.ServicerContext) -> pb.Project:
        await self._caller(context)
        return pb.Project(code=request.id_or_code)


@pytest.fixture
async def idp() -> AsyncIterator[LocalIdP]:
    provider = LocalIdP(clients={CLIENT: SECRET}, token_lifetime=LIFETIME)
    async with provider.serve():
        yield provider


def settings_for(idp: LocalIdP, target: str = "") -> ServiceSettings:
    return ServiceSettings(
        environment="production",
        jwt_issuer=idp.base,
        jwt_jwks_url=idp.jwks_url,
        service_client_id=CLIENT,
        service_client_secret=SECRET,
        service_token_url=idp.token_url,
        registry_grpc_target=target,
    )


async def _registry(idp: LocalIdP, queue_seconds: float) -> tuple[GrpcServer, Registry]:
    servicer = Registry(TokenVerifier(settings_for(idp)), queue_seconds)
    server = GrpcServer(service="kit-calls", host="127.0.0.1", port=0)
    server.add(
        lambda s: pb_grpc.add_RegistryServiceServicer_to_server(servicer, s),
        "steward.registry.v1.RegistryService",
    )
    await server.start()
    return server, servicer


async def test_own_token_expiring_in_the_callees_queue_is_renewed_and_the_call_made_again(
    idp: LocalIdP,
) -> None:
    server, servicer = await _registry(idp, queue_seconds=LIFETIME + 0.2)
    client = RegistryClient(settings_for(idp, server.address))
    try:
        codes = await client.ancestry_codes("510502")
    finally:
        await client.close()
        await server.stop(0)
    assert codes == ["510502"]
    assert servicer.outcomes == ["token_expired", "ok"] and idp.token_requests == 2


async def test_a_refused_own_token_is_503_not_the_users_401(idp: LocalIdP) -> None:
    server, servicer = await _registry(idp, queue_seconds=0)
    client = RegistryClient(settings_for(idp, server.address), token=lambda: "not-a-token")
    try:
        with pytest.raises(ServiceTokenRejected) as info:
            await client.ancestry("510502")
    finally:
        await client.close()
        await server.stop(0)
    assert info.value.status_code == 503 and info.value.code == "service_token_rejected"
    assert servicer.outcomes == ["invalid_token"]  # not expired: no second try


async def test_the_callers_expired_token_is_its_401_and_never_swapped(idp: LocalIdP) -> None:
    server, servicer = await _registry(idp, queue_seconds=0)
    client = RegistryClient(settings_for(idp, server.address))
    expired = idp.issue({"sub": "someone", "tenant": "510502", "roles": ["viewer"]}, lifetime=-5)
    try:
        with pytest.raises(Unauthenticated) as info:
            await client.project("P-1", token=expired)
    finally:
        await client.close()
        await server.stop(0)
    assert info.value.status_code == 401 and servicer.outcomes == ["token_expired"]
    assert idp.token_requests == 0
