"""Rate limits and the checks that follow token verification.

Token buckets per client address for requests without a token (every path but health, readiness
and metrics), per principal (tenant + subject, once the token is verified: many users may share one
address, e.g. the console or a NAT) and per address for forged or malformed tokens (a stream of bad
signatures is refused after a few dozen). A refusal
is 429 with ``Retry-After``. Buckets live in each replica's memory: with N replicas a client may get
up to N times the configured rate, which is what the limits are sized for.

Loopback clients are exempt when ``STEWARD_RATE_LIMIT_EXEMPT_LOOPBACK`` is true, or, by default,
when the environment is dev or test: the test suites, benchmarks and the dev runner all connect from
127.0.0.1, and a production mesh sidecar (which also connects from loopback) is not exempted.
``STEWARD_RATE_LIMIT_ENABLED=false`` turns every limit off.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from steward.kit import seclog
from steward.kit.auth import Principal, TokenVerifier, bearer_token
from steward.kit.errors import DomainError, Forbidden, NotFound, Unauthenticated
from steward.kit.settings import ServiceSettings
from steward.kit.tenancy import ALL_TENANTS


class TokenBuckets:
    """``take(key)`` → 0 when admitted, else the seconds until one request would be."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self.max_keys = max_keys
        self._state: dict[str, tuple[float, float]] = {}

    def _level(self, key: str, now: float) -> float:
        tokens, stamp = self._state.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - stamp) * self.rate)

    def take(self, key: str, cost: float = 1.0) -> float:
        now = self.clock()
        tokens = self._level(key, now)
        if tokens >= cost:
            self._state[key] = (tokens - cost, now)
            if len(self._state) > self.max_keys:
                self._forget(now)
            return 0.0
        self._state[key] = (tokens, now)
        return (cost - tokens) / self.rate

    def wait(self, key: str) -> float:
        """Seconds until ``key`` may spend one token (0 if it may now), without spending it."""
        tokens = self._level(key, self.clock())
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def _forget(self, now: float) -> None:
        full = self.burst / self.rate
        self._state = {k: v for k, v in self._state.items() if now - v[1] < full}
        if len(self._state) > self.max_keys:  # still too many: keep the most recent half
            recent = sorted(self._state.items(), key=lambda kv: kv[1][1])[len(self._state) // 2 :]
            self._state = dict(recent)


class Guard:
    def __init__(self, settings: ServiceSettings, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = settings.rate_limit_enabled
        exempt = settings.rate_limit_exempt_loopback
        self.exempt_loopback = settings.is_dev if exempt is None else exempt
        self.addresses = TokenBuckets(
            settings.rate_limit_address_per_second, settings.rate_limit_address_burst, clock=clock
        )
        self.principals = TokenBuckets(
            settings.rate_limit_principal_per_second, settings.rate_limit_principal_burst, clock=clock
        )
        self.auth_failures = TokenBuckets(
            settings.rate_limit_auth_failures_per_minute / 60.0,
            settings.rate_limit_auth_failures_burst,
            clock=clock,
        )

    def exempt(self, address: str) -> bool:
        if not self.enabled:
            return True
        if not self.exempt_loopback:
            return False
        try:
            return ipaddress.ip_address(address).is_loopback
        except ValueError:
            return False

    def admit_address(self, address: str) -> float:
        return 0.0 if self.exempt(address) else self.addresses.take(address)

    def admit_principal(self, address: str, principal: Principal) -> float:
        if self.exempt(address) or principal.tenant == ALL_TENANTS:  # services calling services
            return 0.0
        return self.principals.take(f"{principal.tenant}\x00{principal.subject}")


def guard_of(app: Any, settings: ServiceSettings) -> Guard:
    guard = getattr(app.state, "rate_guard", None)
    if guard is None:
        guard = app.state.rate_guard = Guard(settings)
    return guard


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class TooManyRequests(StarletteHTTPException):
    def __init__(self, message: str, wait: float) -> None:
        super().__init__(429, message, headers={"Retry-After": str(max(1, math.ceil(wait)))})


class TenantGate:
    """Refuses a verified token whose tenant the service does not know (403, never a 404 or an
    empty list); known tenants are remembered for ``ttl`` seconds (tenants are never deleted)."""

    def __init__(self, *, ttl: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._known: dict[str, float] = {}

    async def check(self, principal: Principal, exists: Callable[[str], Awaitable[bool]]) -> None:
        if principal.tenant == ALL_TENANTS:
            return
        now = self.clock()
        if self._known.get(principal.tenant, 0.0) > now:
            return
        if not await exists(principal.tenant):
            raise Forbidden("the token's tenant is not known to this platform", code="unknown_token_tenant")
        if len(self._known) > 100_000:
            self._known.clear()
        self._known[principal.tenant] = now + self.ttl


def registry_tenant_gate(registry: Any) -> Callable[[Principal], Awaitable[None]]:
    """``app.state.tenant_gate`` for a service that is not the registry: a token's tenant must be
    one the registry knows (asked once per tenant and remembered; ``registry`` is a
    :class:`steward.kit.clients.registry.RegistryClient`)."""
    gate = TenantGate()

    async def check(principal: Principal) -> None:
        async def exists(code: str) -> bool:
            try:
                await registry.ancestry_codes(code)
            except NotFound:
                return False
            return True

        await gate.check(principal, exists)

    return check


async def authenticate(request: Request, verifier: TokenVerifier) -> Principal:
    """The verified principal of an HTTP request, after the limits: an address that failed to
    authenticate too often is refused before its token is looked at; a principal over its budget
    gets 429; ``app.state.tenant_gate`` (an ``async (principal) -> None``), when a service sets
    one, refuses tenants it does not know."""
    app = request.app
    guard = guard_of(app, _settings(app))
    address = client_address(request.scope)
    if not guard.exempt(address):
        wait = guard.auth_failures.wait(address)
        if wait:
            seclog.rate_limited(seclog.SERVICE_NAME[0], "auth_failures", address, request.url.path)
            raise TooManyRequests("too many failed authentications from this address; retry later", wait)
    try:
        principal = await verifier.averify(bearer_token(request.headers.get("authorization")))
    except Unauthenticated as exc:
        # a forged or malformed token; an expired one is an honest client's (the console's) mistake
        if exc.code == "invalid_token" and not guard.exempt(address):
            guard.auth_failures.take(address)
        raise
    except DomainError:
        raise
    request.state.principal = principal
    wait = guard.admit_principal(address, principal)
    if wait:
        seclog.rate_limited(seclog.SERVICE_NAME[0], "principal", address, request.url.path, principal)
        raise TooManyRequests("too many requests for this principal; retry later", wait)
    gate = getattr(app.state, "tenant_gate", None)
    if gate is not None:
        await gate(principal)
    return principal


def claimed_subject(authorization: str | None) -> str | None:
    """The ``tenant/sub`` a refused token claims (unverified; for the security log only)."""
    try:
        payload = bearer_token(authorization).split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        if not isinstance(claims, dict):
            return None
    except Exception:
        return None
    return f"{str(claims.get('tenant', '?'))[:32]}/{str(claims.get('sub', '?'))[:64]}"


def _settings(app: Any) -> ServiceSettings:
    from steward.kit.security import settings_of

    return settings_of(app)
