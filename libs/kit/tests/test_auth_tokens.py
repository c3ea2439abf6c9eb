"""The service's own token (steward.kit.auth_tokens) from a local IdP by OAuth2 client credentials:
discovery, caching, refresh before expiry in the background, one fetch at a time, backoff while the
IdP fails (503, never a 500), the secret read from a mounted file; dev and static tokens kept.
Time is a clock the test moves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from steward.kit.auth import ServiceTokenUnavailable, TokenVerifier
from steward.kit.auth_tokens import ServiceTokens
from steward.kit.settings import ServiceSettings
from steward.kit.testidp import LocalIdP

CLIENT, SECRET = "steward-services", "s3cret/with+odd=chars"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def idp() -> AsyncIterator[LocalIdP]:
    provider = LocalIdP(clients={CLIENT: SECRET}, token_lifetime=100)
    async with provider.serve():
        yield provider


def settings_for(idp: LocalIdP, **extra: Any) -> ServiceSettings:
    values: dict[str, Any] = {
        "environment": "production",
        "jwt_issuer": idp.base,
        "jwt_jwks_url": idp.jwks_url,
        "service_client_id": CLIENT,
        "service_client_secret": SECRET,
    }
    values.update(extra)
    return ServiceSettings(**values)


async def test_client_credentials_token_verifies_as_a_service(idp: LocalIdP) -> None:
    settings = settings_for(idp)
    tokens = ServiceTokens(settings)
    assert tokens.mode == "client_credentials"
    token = await tokens.token()  # token endpoint found by OIDC discovery at the issuer
    principal = await TokenVerifier(settings).averify(token)
    assert principal.tenant == "*" and principal.roles == frozenset({"service"})
    assert principal.subject == f"service:{CLIENT}"
    assert await tokens.token() == token and idp.token_requests == 1  # cached


async def test_refreshed_in_the_background_at_80_percent(idp: LocalIdP) -> None:
    clock = FakeClock()
    tokens = ServiceTokens(settings_for(idp, service_token_url=idp.token_url), clock=clock)
    first = await tokens.token()
    clock.now += 79
    assert await tokens.token() == first and idp.token_requests == 1
    clock.now += 2  # 81 % of the lifetime: this caller still gets the valid token at once ...
    assert await tokens.token() == first
    assert tokens._inflight is not None
    await tokens._inflight  # ... while one fetch runs in the background
    second = await tokens.token()
    assert second != first and idp.token_requests == 2


async def test_renewed_after_a_refusal_replaces_the_refused_token_once(idp: LocalIdP) -> None:
    clock = FakeClock()  # this process still counts the token valid: the callee's clock runs ahead
    tokens = ServiceTokens(settings_for(idp), clock=clock)
    refused = await tokens.token()
    renewed = await asyncio.gather(*(tokens.renewed(refused) for _ in range(5)))
    assert len(set(renewed)) == 1 and renewed[0] != refused and idp.token_requests == 2
    assert await tokens.token() == renewed[0]
    assert await tokens.renewed(refused) == renewed[0] and idp.token_requests == 2  # already replaced


async def test_one_fetch_for_many_callers(idp: LocalIdP) -> None:
    tokens = ServiceTokens(settings_for(idp))
    got = await asyncio.gather(*(tokens.token() for _ in range(25)))
    assert len(set(got)) == 1 and idp.token_requests == 1


async def test_idp_failure_is_503_with_backoff_then_recovers(idp: LocalIdP) -> None:
    clock = FakeClock()
    tokens = ServiceTokens(settings_for(idp), clock=clock, attempts=3, backoff_seconds=0.01)
    idp.failing = True
    with pytest.raises(ServiceTokenUnavailable) as info:
        await tokens.token()
    assert info.value.status_code == 503 and info.value.code == "service_token_unavailable"
    assert idp.token_requests == 3  # retried with backoff
    with pytest.raises(ServiceTokenUnavailable):
        await tokens.token()  # inside the backoff window: answered without asking the IdP
    assert idp.token_requests == 3
    idp.failing = False
    clock.now += 60
    assert await tokens.token()
    assert idp.token_requests == 4


async def test_a_valid_token_outlives_a_failing_refresh(idp: LocalIdP) -> None:
    clock = FakeClock()
    tokens = ServiceTokens(settings_for(idp), clock=clock, attempts=1, backoff_seconds=0.01)
    first = await tokens.token()
    idp.failing = True
    clock.now += 90  # refresh due, the IdP fails: callers keep the still-valid token
    assert await tokens.token() == first
    assert tokens._inflight is not None
    with pytest.raises(ServiceTokenUnavailable):
        await tokens._inflight
    assert await tokens.token() == first
    clock.now += 11  # expired, the IdP still failing (and in backoff): 503
    with pytest.raises(ServiceTokenUnavailable):
        await tokens.token()


async def test_secret_from_a_mounted_file_read_at_each_fetch(idp: LocalIdP, tmp_path: Path) -> None:
    secret_file = tmp_path / "client-secret"
    secret_file.write_text(SECRET + "\n")
    clock = FakeClock()
    tokens = ServiceTokens(
        settings_for(idp, service_client_secret=None, service_client_secret_file=secret_file),
        clock=clock,
        attempts=1,
    )
    assert tokens.mode == "client_credentials"
    assert await tokens.token()
    secret_file.write_text("rotated-elsewhere")  # the IdP does not know it: the next fetch fails
    clock.now += 200
    with pytest.raises(ServiceTokenUnavailable):
        await tokens.token()


async def test_dev_static_and_nothing_configured() -> None:
    dev = ServiceTokens(ServiceSettings(jwt_dev_secret="d" * 32, service_name="issues"))
    assert dev.mode == "dev"
    claims = jwt.decode(await dev.token(), "d" * 32, algorithms=["HS256"], audience="steward")
    assert claims["roles"] == ["service"] and claims["tenant"] == "*"
    static = ServiceTokens(ServiceSettings(service_token="given"))
    assert static.mode == "static" and await static.token() == "given"
    none = ServiceTokens(ServiceSettings(environment="production"))
    assert none.mode == "none"
    with pytest.raises(ServiceTokenUnavailable):
        await none.token()
