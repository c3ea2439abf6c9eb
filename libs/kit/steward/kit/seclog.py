"""The security log: every refused authentication (401), authorisation (403) and rate-limited
request (429), on REST and gRPC, as one structured line (who, from where, what, why) on the
``steward.security`` logger — throttled per (kind, address) so an attack does not flood the log —
and counted in ``steward_security_refusals_total`` (never throttled)."""

from __future__ import annotations

from typing import Any

import structlog
from prometheus_client import Counter

from steward.kit.auth import Principal
from steward.kit.logs import ThrottledLogger

SECURITY_REFUSALS = Counter(
    "steward_security_refusals_total",
    "Requests refused for authentication (401), authorisation (403) or rate limits (429)",
    ["service", "transport", "status", "reason"],
)
SERVICE_NAME = ["steward"]  # set by create_app: one service per process


class _SecurityLog(ThrottledLogger):
    def __init__(self) -> None:
        super().__init__(interval=10.0)
        self._log = structlog.get_logger("steward.security")


LOG = _SecurityLog()


def _who(principal: Principal | None, claimed: str | None) -> dict[str, Any]:
    if principal is not None:
        return {"sub": principal.subject, "tenant": principal.tenant, "roles": sorted(principal.roles)}
    return {"claimed": claimed} if claimed else {"sub": None}


def refused(
    *,
    transport: str,
    status: int,
    reason: str,
    message: str,
    address: str,
    what: str,
    principal: Principal | None = None,
    claimed: str | None = None,
    service: str | None = None,
) -> None:
    service = service or SERVICE_NAME[0]
    SECURITY_REFUSALS.labels(service, transport, str(status), reason).inc()
    event = "security.unauthenticated" if status == 401 else "security.forbidden"
    LOG.warning(
        event,
        key=f"{reason}|{address}",
        service=service,
        transport=transport,
        status=status,
        reason=reason,
        why=message[:200],
        address=address,
        what=what[:200],
        **_who(principal, claimed),
    )


def rate_limited(
    service: str, scope: str, address: str, what: str, principal: Principal | None = None
) -> None:
    SECURITY_REFUSALS.labels(service, "http", "429", f"rate_limit_{scope}").inc()
    LOG.warning(
        "security.rate_limited",
        key=f"{scope}|{address}",
        service=service,
        transport="http",
        status=429,
        reason=f"rate_limit_{scope}",
        address=address,
        what=what[:200],
        **_who(principal, None),
    )
