"""JWT bearer authentication (OIDC-style) and the principal it yields.

Tokens are verified for signature, issuer, audience and expiry. A real IdP is used through its
JWKS URL (RS256/ES256; keys kept fresh by :mod:`steward.kit.auth_keys`); local development uses an
HMAC dev secret and :func:`mint_dev_token`. The token a service presents to others comes from
:mod:`steward.kit.auth_tokens` (OAuth2 client credentials, static or dev).
Claims: ``sub``, ``tenant`` (division code), ``roles`` and, for unit-bound users, ``unit``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import jwt

from steward.kit.auth_keys import JwksKeys
from steward.kit.errors import Forbidden, Unauthenticated, Unavailable
from steward.kit.settings import ServiceSettings


class Role(StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    TENANT_ADMIN = "tenant_admin"
    DISPATCHER = "dispatcher"
    SPECIALIST = "specialist"
    LIAISON = "liaison"
    STEWARD = "steward"
    AGENT = "agent"
    LEADER = "leader"
    SUPERVISOR = "supervisor"
    ENTERPRISE_CONTACT = "enterprise_contact"
    AUDITOR = "auditor"
    AGENCY = "agency"
    SERVICE = "service"


KNOWN_ROLES = frozenset(r.value for r in Role)
VERIFIED_SECONDS = 60.0  # how long a verified token is trusted without verifying it again (or its expiry)
VERIFIED_MAX = 10_000  # tokens remembered per process


@dataclass(frozen=True)
class Principal:
    subject: str
    tenant: str
    roles: frozenset[str] = field(default_factory=frozenset)
    unit: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def has(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    def require(self, *roles: str) -> None:
        if not self.has(*roles):
            raise Forbidden(f"requires one of the roles: {', '.join(roles)}", code="role_required")

    @property
    def is_enterprise(self) -> bool:
        """Enterprise contacts see only their own projects, whatever else they hold."""
        return Role.ENTERPRISE_CONTACT in self.roles and not self.has(
            Role.PLATFORM_ADMIN, Role.TENANT_ADMIN, Role.DISPATCHER, Role.SUPERVISOR
        )


class TokenVerifier:
    def __init__(self, settings: ServiceSettings) -> None:
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.algorithms = list(settings.jwt_algorithms)
        self.secret = settings.jwt_dev_secret.get_secret_value() if settings.jwt_dev_secret else None
        self.jwks = (
            JwksKeys(
                settings.jwt_jwks_url,
                max_age_seconds=settings.jwt_jwks_max_age_seconds,
                min_refetch_seconds=settings.jwt_jwks_min_refetch_seconds,
                timeout_seconds=settings.jwt_jwks_timeout_seconds,
            )
            if settings.jwt_jwks_url
            else None
        )
        # token → (principal, until, kid, key): a token verified a moment ago is not verified again
        # on every request (signature and claims cost more than the rest of a small request). An
        # entry lasts until the token expires and at most VERIFIED_SECONDS, and only while the key
        # set still holds the very key that verified it (a removed or replaced key: verified anew).
        self._verified: dict[str, tuple[Principal, float, str | None, jwt.PyJWK | None]] = {}

    def _recalled(self, token: str) -> Principal | None:
        hit = self._verified.get(token)
        if hit is None:
            return None
        principal, until, kid, key = hit
        if time.time() < until and (key is None or (self.jwks is not None and self.jwks.cached(kid) is key)):
            return principal
        del self._verified[token]
        return None

    def _remember(self, token: str, principal: Principal, kid: str | None, key: jwt.PyJWK | None) -> None:
        exp = principal.claims.get("exp")
        if not isinstance(exp, int | float):
            return
        if len(self._verified) >= VERIFIED_MAX:
            self._verified.clear()  # crude but bounded: a flood of distinct tokens costs a re-verify
        self._verified[token] = (principal, min(float(exp), time.time() + VERIFIED_SECONDS), kid, key)

    async def averify(self, token: str) -> Principal:
        """:meth:`verify` without blocking the event loop when a JWKS key must be fetched (a key
        already held verifies on the loop)."""
        recalled = self._recalled(token)
        if recalled is not None:
            return recalled
        if self.jwks is None:
            return self.verify(token)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return self.verify(token)  # refused without any fetch
        kid = header.get("kid")
        if str(header.get("alg", "")).startswith("HS"):
            return self.verify(token)
        held = self.jwks.cached(kid if isinstance(kid, str) else None)
        if held is not None:
            return self.verify(token, jwk=held)
        return await asyncio.to_thread(self.verify, token)

    def verify(self, token: str, *, jwk: jwt.PyJWK | None = None) -> Principal:
        """The token's principal; ``jwk``: the JWKS key already looked up for it (else looked up,
        fetching the key set when needed: blocking)."""
        recalled = self._recalled(token)
        if recalled is not None:
            return recalled
        kid: str | None = None
        used: jwt.PyJWK | None = None
        try:
            header = jwt.get_unverified_header(token)
            alg = header.get("alg", "")
            if alg not in self.algorithms:
                raise Unauthenticated(f"token algorithm {alg!r} not accepted", code="invalid_token")
            if alg.startswith("HS"):
                if not self.secret:
                    raise Unauthenticated("HMAC tokens are not accepted here", code="invalid_token")
                key: Any = self.secret
            elif jwk is not None:
                key, used = jwk.key, jwk
                kid = header.get("kid") if isinstance(header.get("kid"), str) else None
            elif self.jwks is not None:
                kid = header.get("kid") if isinstance(header.get("kid"), str) else None
                used = self.jwks.key(kid)
                key = used.key
            else:
                raise Unauthenticated("no JWKS configured for asymmetric tokens", code="invalid_token")
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("token expired", code="token_expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {exc}", code="invalid_token") from exc
        principal = principal_from_claims(claims)
        if not principal.roles:
            # no role, or only roles this platform does not know: authenticated, allowed nothing
            raise Forbidden("the token carries no role known to this platform", code="no_known_role")
        self._remember(token, principal, kid, used)
        return principal


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    tenant = claims.get("tenant")
    roles = claims.get("roles") or []
    if not isinstance(tenant, str) or not tenant:
        raise Unauthenticated("token has no tenant claim", code="invalid_token")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise Unauthenticated("token roles claim must be a list of strings", code="invalid_token")
    if tenant == "*" and Role.SERVICE not in roles:
        raise Unauthenticated("only service principals may act for all tenants", code="invalid_token")
    unit = claims.get("unit")
    return Principal(
        subject=str(claims["sub"]),
        tenant=tenant,
        roles=frozenset(r for r in roles if r in KNOWN_ROLES),
        unit=str(unit) if unit else None,
        claims=claims,
    )


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("missing bearer token", code="missing_token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("authorization must be 'Bearer <token>'", code="missing_token")
    return token.strip()


class ServiceTokenUnavailable(Unavailable):
    """This service has no token to call another service with (the IdP did not issue one, or no
    way to get one is configured): 503, never a 500."""

    code = "service_token_unavailable"


class ServiceTokenRejected(Unavailable):
    """Another service refused this service's own token (and a renewed one): 503 to the end user,
    whose credentials are not at fault, never a 401 that would send them to log in again."""

    code = "service_token_rejected"


def service_token(settings: ServiceSettings, *, ttl_seconds: int = 3600) -> str:
    """A static or development service token, without I/O: ``STEWARD_SERVICE_TOKEN``, or one minted
    from the dev secret with role ``service`` for all tenants. Services use
    :func:`steward.kit.auth_tokens.service_token_async`, which also fetches one by OAuth2 client
    credentials from the IdP and refreshes it."""
    if settings.service_token is not None:
        return settings.service_token.get_secret_value()
    if settings.jwt_dev_secret is None:
        raise ServiceTokenUnavailable(
            "no service token: configure STEWARD_SERVICE_CLIENT_ID and its secret (OAuth2 client "
            "credentials), STEWARD_SERVICE_TOKEN, or STEWARD_JWT_DEV_SECRET for development"
        )
    return mint_dev_token(
        secret=settings.jwt_dev_secret.get_secret_value(),
        subject=f"service:{settings.service_name}",
        tenant="*",
        roles=[Role.SERVICE.value],
        ttl_seconds=ttl_seconds,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )


def mint_dev_token(
    *,
    secret: str,
    subject: str,
    tenant: str,
    roles: list[str],
    unit: str | None = None,
    ttl_seconds: int = 3600,
    issuer: str = "steward-dev",
    audience: str = "steward",
) -> str:
    """An HS256 token for local development and tests (never accepted where no dev secret is set)."""
    unknown = sorted(set(roles) - KNOWN_ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_ROLES))}")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "tenant": tenant,
        "roles": roles,
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if unit:
        claims["unit"] = unit
    return jwt.encode(claims, secret, algorithm="HS256")
