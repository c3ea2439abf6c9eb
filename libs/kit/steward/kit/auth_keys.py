"""The IdP's signing keys (JWKS), with bounded staleness and rate-limited refetches.

- The whole key set is fetched again once it is older than ``STEWARD_JWT_JWKS_MAX_AGE_SECONDS``
  (300): a key the IdP removed stops verifying within that bound (while the IdP answers; when it
  does not, the last set keeps verifying and every failure is counted and logged).
- A token naming a key id the set does not hold fetches the set at once, at most once per
  ``STEWARD_JWT_JWKS_MIN_REFETCH_SECONDS`` (1): a new key is accepted as soon as the IdP publishes
  it, and a flood of made-up key ids costs the IdP one request per interval, not one per token.

PyJWT's :class:`jwt.PyJWKClient` fetches and parses the set (its own caches are off: it caches keys
by id until restart and refetches for every unknown id).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import jwt
import structlog
from prometheus_client import Counter

log = structlog.get_logger(__name__)

JWKS_FETCHES = Counter(
    "steward_jwks_fetches_total",
    "JWKS fetches from the IdP, by reason (max_age, unknown_kid) and outcome (success, failure)",
    ["reason", "outcome"],
)
JWKS_REFETCH_LIMITED = Counter(
    "steward_jwks_refetch_limited_total",
    "Unknown key ids answered from the cached JWKS because a fetch happened less than the minimum "
    "interval ago",
)


class UnknownKey(jwt.PyJWKClientError):
    """The token's key id is not in the IdP's key set."""


class JwksKeys:
    """Signing keys of one JWKS URL; thread-safe (verification runs in worker threads)."""

    def __init__(
        self,
        url: str,
        *,
        max_age_seconds: float = 300.0,
        min_refetch_seconds: float = 1.0,
        timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.max_age = max_age_seconds
        self.min_refetch = min_refetch_seconds
        self._clock = clock
        self._client = jwt.PyJWKClient(url, cache_keys=False, cache_jwk_set=False, timeout=timeout_seconds)
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fetched_at = -math.inf  # last successful fetch
        self._attempted_at = -math.inf  # last fetch, whatever its outcome
        self._lock = threading.Lock()

    def cached(self, kid: str | None) -> jwt.PyJWK | None:
        """The key for ``kid`` when the cached set is fresh and holds it (no fetch, no blocking)."""
        if self._clock() - self._fetched_at > self.max_age:
            return None
        return self._lookup(kid)

    def key(self, kid: str | None) -> jwt.PyJWK:
        """The key for ``kid``, fetching the set when it is too old or does not know ``kid``
        (blocking: call from a worker thread)."""
        if self._clock() - self._fetched_at > self.max_age:
            self._refresh("max_age")
        found = self._lookup(kid)
        if found is None:
            self._refresh("unknown_kid")
            found = self._lookup(kid)
        if found is None:
            raise UnknownKey(f"no key with id {kid!r} in the IdP's key set")
        return found

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK:
        """:meth:`key` for the token's ``kid`` (the :class:`jwt.PyJWKClient` call, for callers of it)."""
        kid = jwt.get_unverified_header(token).get("kid")
        return self.key(kid if isinstance(kid, str) else None)

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        keys = self._keys
        if kid is None and len(keys) == 1:
            return next(iter(keys.values()))  # an IdP with one key may leave the id out
        return keys.get(kid)

    def _refresh(self, reason: str) -> None:
        with self._lock:
            now = self._clock()
            if now - self._attempted_at < self.min_refetch:
                if reason == "unknown_kid":
                    JWKS_REFETCH_LIMITED.inc()
                return  # fetched (or tried) just now, maybe by another thread while this one waited
            self._attempted_at = now
            try:
                keys = self._client.get_signing_keys()
            except Exception as exc:  # unreachable, bad JSON, no signing key
                JWKS_FETCHES.labels(reason, "failure").inc()
                log.warning("jwks.fetch_failed", url=self.url, reason=reason, error=str(exc)[:300])
                return  # keep the last set (availability); retried after min_refetch
            self._keys = {k.key_id: k for k in keys}
            self._fetched_at = now
            JWKS_FETCHES.labels(reason, "success").inc()
            log.info("jwks.fetched", url=self.url, reason=reason, kids=sorted(str(k) for k in self._keys))


__all__ = ["JWKS_FETCHES", "JWKS_REFETCH_LIMITED", "JwksKeys", "UnknownKey"]
