"""The token a service presents to other services (gRPC metadata, REST ``Authorization``).

Where it comes from, by the settings (first match):

- ``STEWARD_SERVICE_CLIENT_ID`` + a secret (``STEWARD_SERVICE_CLIENT_SECRET`` or the file named by
  ``STEWARD_SERVICE_CLIENT_SECRET_FILE``, e.g. a mounted Kubernetes Secret): OAuth2 client
  credentials (RFC 6749 §4.4) at the IdP's token endpoint (``STEWARD_SERVICE_TOKEN_URL``, else the
  ``token_endpoint`` of OIDC discovery at ``STEWARD_OIDC_DISCOVERY_URL``, by default
  ``<issuer>/.well-known/openid-configuration``). The token is cached and fetched again once
  ``STEWARD_SERVICE_TOKEN_REFRESH_RATIO`` (0.8) of its lifetime has passed, in the background while
  the current one is still valid; one fetch at a time (single flight); a failing IdP is retried with
  exponential backoff and, when no valid token is left, callers get 503
  ``service_token_unavailable`` (never a 500);
- ``STEWARD_SERVICE_TOKEN``: a static token (it is never refreshed: for IdPs without client
  credentials and for tests);
- ``STEWARD_JWT_DEV_SECRET`` (development): an HS256 token with role ``service`` for all tenants.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote_plus

import jwt
import structlog
from prometheus_client import Counter

from steward.kit.auth import ServiceTokenUnavailable, service_token
from steward.kit.settings import ServiceSettings

if TYPE_CHECKING:
    import httpx

log = structlog.get_logger(__name__)

TOKEN_FETCHES = Counter(
    "steward_service_token_fetches_total",
    "Service token requests to the IdP (OAuth2 client credentials), by outcome",
    ["outcome"],
)
MIN_LIFETIME_SECONDS = 1.0  # a token with less left (at most 10 % of its lifetime) counts as expired
DEFAULT_LIFETIME_SECONDS = 300.0  # when the IdP answers no expires_in


@dataclass(frozen=True)
class _Token:
    value: str
    fetched_at: float
    expires_at: float
    refresh_at: float


class ServiceTokens:
    """The service's own bearer token, fetched and refreshed by OAuth2 client credentials (or the
    static / dev token of the settings). Share one per process: :func:`service_tokens`."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        attempts: int = 3,
        backoff_seconds: float = 0.2,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._attempts = max(1, attempts)
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._current: _Token | None = None
        self._inflight: asyncio.Task[_Token] | None = None
        self._endpoint: str | None = settings.service_token_url
        self._failures = 0
        self._retry_at = 0.0

    @property
    def mode(self) -> str:
        """``client_credentials``, ``static``, ``dev`` or ``none`` (nothing configured)."""
        s = self.settings
        if s.service_client_id and self._has_secret():
            return "client_credentials"
        if s.service_token is not None:
            return "static"
        if s.jwt_dev_secret is not None:
            return "dev"
        return "none"

    def _has_secret(self) -> bool:
        s = self.settings
        return s.service_client_secret is not None or s.service_client_secret_file is not None

    async def token(self) -> str:
        """A valid token (fetched at most once at a time); 503 ``service_token_unavailable`` when the
        IdP cannot be reached and no valid token is left."""
        mode = self.mode
        if mode != "client_credentials":
            return service_token(self.settings)
        now = self._clock()
        current = self._current
        if current is not None and now < current.expires_at:
            if now >= current.refresh_at and now >= self._retry_at:
                self._start_fetch()  # refresh in the background; this caller keeps the valid token
            return current.value
        if now < self._retry_at and (self._inflight is None or self._inflight.done()):
            raise ServiceTokenUnavailable("the identity provider did not issue a service token; retry later")
        task = self._start_fetch()
        try:
            return (await asyncio.shield(task)).value
        except ServiceTokenUnavailable:
            raise
        except Exception as exc:  # any IdP failure is a 503 to the caller
            raise ServiceTokenUnavailable(f"no service token: {type(exc).__name__}") from exc

    async def renewed(self, rejected: str) -> str:
        """A token after another service refused ``rejected`` as expired (the call outlasted the
        token's margin, or that service's clock runs ahead): ``rejected`` is dropped if it is still
        the current one and a new one fetched (joining a fetch under way); the static or dev token
        as it is."""
        if self._current is not None and self._current.value == rejected:
            self._current = None  # only a fetched token is ever current
        return await self.token()

    def _start_fetch(self) -> asyncio.Task[_Token]:
        loop = asyncio.get_running_loop()
        task = self._inflight
        if task is not None and not task.done() and task.get_loop() is loop:
            return task
        task = loop.create_task(self._fetch_with_retries(), name="service-token-fetch")
        task.add_done_callback(_consume)
        self._inflight = task
        return task

    async def _fetch_with_retries(self) -> _Token:
        error: BaseException | None = None
        for attempt in range(self._attempts):
            if attempt:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1) * (0.5 + random.random()))
            try:
                token = await self._fetch()
            except Exception as exc:  # logged, counted, retried
                error = exc
                TOKEN_FETCHES.labels("failure").inc()
                log.warning("service_token.fetch_failed", attempt=attempt + 1, error=repr(exc)[:300])
                continue
            TOKEN_FETCHES.labels("success").inc()
            self._current, self._failures, self._retry_at = token, 0, 0.0
            return token
        self._failures += 1
        wait = min(self._max_backoff, self._backoff * 2 ** (self._failures + self._attempts - 1))
        self._retry_at = self._clock() + wait
        log.error("service_token.unavailable", failures=self._failures, retry_in_seconds=round(wait, 2))
        raise ServiceTokenUnavailable(
            "the identity provider did not issue a service token; retry later"
        ) from error

    async def _fetch(self) -> _Token:
        import httpx  # only where a token is fetched: a service without an issuer never loads it

        s = self.settings
        async with httpx.AsyncClient(timeout=s.service_token_timeout_seconds) as client:
            if self._endpoint is None:
                self._endpoint = await self._discover(client)
            form = {"grant_type": "client_credentials"}
            if s.service_token_scope:
                form["scope"] = s.service_token_scope
            if s.service_token_audience:
                form["audience"] = s.service_token_audience
            # client_secret_basic: id and secret form-encoded, then HTTP Basic (RFC 6749 §2.3.1)
            auth = httpx.BasicAuth(quote_plus(s.service_client_id or ""), quote_plus(self._secret()))
            started = self._clock()
            response = await client.post(
                self._endpoint, data=form, auth=auth, headers={"Accept": "application/json"}
            )
        if response.status_code != 200:
            error = _oauth_error(response)
            raise RuntimeError(f"token endpoint answered {response.status_code} {error}")
        answer = response.json()
        value = answer.get("access_token")
        if not isinstance(value, str) or not value:
            raise ValueError("the token endpoint answered no access_token")
        lifetime = float(answer.get("expires_in") or DEFAULT_LIFETIME_SECONDS)
        lifetime = min(lifetime, _seconds_left(value, lifetime))
        margin = min(MIN_LIFETIME_SECONDS, lifetime * 0.1)  # call time, clock skew
        return _Token(
            value=value,
            fetched_at=started,
            expires_at=started + lifetime - margin,
            refresh_at=started + lifetime * s.service_token_refresh_ratio,
        )

    async def _discover(self, client: httpx.AsyncClient) -> str:
        s = self.settings
        url = s.oidc_discovery_url or f"{s.jwt_issuer.rstrip('/')}/.well-known/openid-configuration"
        response = await client.get(url)
        response.raise_for_status()
        endpoint = response.json().get("token_endpoint")
        if not isinstance(endpoint, str) or not endpoint:
            raise ValueError(f"{url} names no token_endpoint")
        return endpoint

    def _secret(self) -> str:
        s = self.settings
        if s.service_client_secret_file is not None:
            # read each time: a rotated Secret is picked up without a restart
            return s.service_client_secret_file.read_text(encoding="utf-8").strip()
        assert s.service_client_secret is not None
        return s.service_client_secret.get_secret_value()


def _seconds_left(token: str, default: float) -> float:
    """Seconds until the token's own ``exp`` (a JWT; whole seconds may make it earlier than
    ``expires_in`` says), else ``default``. Not verified: only this service's timing depends on it."""
    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    except jwt.PyJWTError:
        return default
    return float(exp) - time.time() if isinstance(exp, int | float) else default


def _oauth_error(response: httpx.Response) -> str:
    """The OAuth2 error code of a refusal (``invalid_client``, ...), for the log."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:100]
    return str(body.get("error", "")) if isinstance(body, dict) else ""


def _consume(task: asyncio.Task[_Token]) -> None:
    """A background refresh nobody awaits must not log 'exception never retrieved'."""
    if not task.cancelled():
        task.exception()


_PROVIDERS: dict[int, tuple[ServiceSettings, ServiceTokens]] = {}


def service_tokens(settings: ServiceSettings) -> ServiceTokens:
    """The process-wide provider for these settings (one cache, one refresh, for every client)."""
    hit = _PROVIDERS.get(id(settings))
    if hit is not None and hit[0] is settings:
        return hit[1]
    provider = ServiceTokens(settings)
    _PROVIDERS[id(settings)] = (settings, provider)
    return provider


async def service_token_async(settings: ServiceSettings) -> str:
    """The service's token now (client credentials, static or dev; see the module doc)."""
    return await service_tokens(settings).token()


__all__ = ["ServiceTokens", "service_token_async", "service_tokens"]
