"""JWKS keys against a local IdP that rotates them (steward.kit.auth_keys): a removed key stops
verifying within the configured bound, a new key id is accepted at once, and a flood of unknown key
ids costs the IdP one fetch per interval. Time is a clock the test moves."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from steward.kit.auth import TokenVerifier
from steward.kit.auth_keys import JwksKeys
from steward.kit.errors import Unauthenticated
from steward.kit.settings import ServiceSettings
from steward.kit.testidp import LocalIdP


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def idp() -> AsyncIterator[LocalIdP]:
    provider = LocalIdP()
    async with provider.serve():
        yield provider


def user(idp: LocalIdP, **extra: Any) -> str:
    return idp.issue({"sub": "u1", "tenant": "210112", "roles": ["dispatcher"]}, **extra)


def verifier_for(
    idp: LocalIdP, clock: FakeClock, *, max_age: float = 60.0, min_refetch: float = 1.0
) -> TokenVerifier:
    settings = ServiceSettings(
        jwt_issuer=idp.base,
        jwt_jwks_url=idp.jwks_url,
        jwt_jwks_max_age_seconds=max_age,
        jwt_jwks_min_refetch_seconds=min_refetch,
    )
    verifier = TokenVerifier(settings)
    assert verifier.jwks is not None
    assert (verifier.jwks.max_age, verifier.jwks.min_refetch) == (max_age, min_refetch)  # from settings
    verifier.jwks = JwksKeys(
        idp.jwks_url, max_age_seconds=max_age, min_refetch_seconds=min_refetch, clock=clock
    )
    return verifier


async def refused(verifier: TokenVerifier, token: str) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as info:
        await verifier.averify(token)
    return info.value


async def test_a_removed_key_stops_verifying_within_the_bound(idp: LocalIdP) -> None:
    clock = FakeClock()
    verifier = verifier_for(idp, clock, max_age=60.0)
    old_kid = idp.signing_kid
    token = user(idp, lifetime=3600)
    assert (await verifier.averify(token)).subject == "u1"
    new_kid = idp.rotate()
    idp.remove_key(old_kid)
    clock.now += 30  # within the bound the cached set may still hold it
    assert (await verifier.averify(token)).subject == "u1"
    clock.now += 31  # past max_age: the set is fetched again and the removed key is gone
    assert (await refused(verifier, token)).code == "invalid_token"
    # and stays refused (an unknown kid now: refetches are rate-limited, never accepted)
    clock.now += 5
    assert (await refused(verifier, token)).code == "invalid_token"
    assert (await verifier.averify(user(idp, kid=new_kid))).subject == "u1"


async def test_a_new_key_is_accepted_at_once(idp: LocalIdP) -> None:
    clock = FakeClock()
    verifier = verifier_for(idp, clock, max_age=300.0, min_refetch=1.0)
    assert (await verifier.averify(user(idp))).subject == "u1"
    fetches = idp.jwks_requests
    clock.now += 2  # longer ago than the minimum interval, far within max_age
    idp.rotate()
    assert (await verifier.averify(user(idp))).subject == "u1"  # no cool-down
    assert idp.jwks_requests == fetches + 1
    assert (await verifier.averify(user(idp))).subject == "u1"  # cached now
    assert idp.jwks_requests == fetches + 1


async def test_unknown_kids_refetch_at_most_once_per_interval(idp: LocalIdP) -> None:
    clock = FakeClock()
    verifier = verifier_for(idp, clock, max_age=300.0, min_refetch=5.0)
    assert (await verifier.averify(user(idp))).subject == "u1"
    fetches = idp.jwks_requests
    clock.now += 10
    forged = [user(idp, kid=f"made-up-{uuid.uuid4().hex[:8]}") for _ in range(40)]
    results = await asyncio.gather(*(verifier.averify(t) for t in forged), return_exceptions=True)
    assert all(isinstance(r, Unauthenticated) and r.code == "invalid_token" for r in results)
    assert idp.jwks_requests == fetches + 1  # 40 unknown kids, one fetch
    clock.now += 1  # still inside the interval
    assert (await refused(verifier, forged[0])).code == "invalid_token"
    assert idp.jwks_requests == fetches + 1
    clock.now += 5  # the next interval: one more fetch is allowed
    assert (await refused(verifier, forged[1])).code == "invalid_token"
    assert idp.jwks_requests == fetches + 2
    # the known key kept verifying throughout, without fetches
    assert (await verifier.averify(user(idp))).subject == "u1"
    assert idp.jwks_requests == fetches + 2


async def test_an_unreachable_idp_keeps_the_last_keys_and_is_not_hammered(idp: LocalIdP) -> None:
    clock = FakeClock()
    verifier = verifier_for(idp, clock, max_age=10.0, min_refetch=2.0)
    token = user(idp, lifetime=3600)
    assert (await verifier.averify(token)).subject == "u1"
    assert verifier.jwks is not None
    verifier.jwks._client.uri = "http://127.0.0.1:9/nothing-listens-here"
    clock.now += 11
    assert (await verifier.averify(token)).subject == "u1"  # fetch failed: the last set serves
    assert verifier.jwks._attempted_at == clock.now


async def test_a_verified_token_is_not_verified_again_while_its_key_stays(
    idp: LocalIdP, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jwt as pyjwt

    decoded: list[str] = []
    real_decode = pyjwt.decode

    def counting_decode(token: str, *args: Any, **kwargs: Any) -> Any:
        decoded.append(token)
        return real_decode(token, *args, **kwargs)

    monkeypatch.setattr(pyjwt, "decode", counting_decode)
    clock = FakeClock()
    verifier = verifier_for(idp, clock, max_age=60.0)
    token, other = user(idp, lifetime=3600), user(idp, lifetime=3600)
    for _ in range(5):
        assert (await verifier.averify(token)).subject == "u1"
    assert verifier.verify(token).subject == "u1"  # the blocking path remembers the same way
    assert decoded == [token]
    assert (await verifier.averify(other)).subject == "u1"  # another token: verified on its own
    assert decoded == [token, other]
    clock.now += 61  # the key set is refetched: its key objects are new, so the token is verified again
    assert (await verifier.averify(token)).subject == "u1"
    assert decoded == [token, other, token]


async def test_a_remembered_token_still_expires(idp: LocalIdP) -> None:
    verifier = verifier_for(idp, FakeClock(), max_age=3600.0)
    token = user(idp, lifetime=1.0)
    assert (await verifier.averify(token)).subject == "u1"
    await asyncio.sleep(1.6)  # past exp (PyJWT's leeway is 0): refused although verified before
    assert (await refused(verifier, token)).code == "token_expired"
