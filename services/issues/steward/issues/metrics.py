"""Issues metrics: open/overdue matters per tenant and kind (gauges refreshed by one cheap grouped
query on a partial index of open matters), time to resolve, escalations."""

from __future__ import annotations

import asyncio
import contextlib

import sqlalchemy as sa
import structlog
from prometheus_client import Counter, Gauge, Histogram

from steward.kit.db import Database

log = structlog.get_logger(__name__)

OPEN = Gauge("steward_issues_open_matters", "Open matters per home tenant and kind", ["tenant", "kind"])
OVERDUE = Gauge(
    "steward_issues_overdue_matters", "Overdue open matters per home tenant and kind", ["tenant", "kind"]
)
TIME_TO_RESOLVE = Histogram(
    "steward_issues_time_to_resolve_seconds",
    "Time from filing to resolution",
    ["kind"],
    buckets=(3600, 4 * 3600, 86400, 3 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 60 * 86400, 120 * 86400),
)
ESCALATIONS = Counter("steward_issues_escalations_total", "Escalations", ["kind", "mode"])
MATTERS_FILED = Counter("steward_issues_matters_filed_total", "Matters filed", ["kind"])

_STATS = sa.text(
    "SELECT tenant_code, kind, count(*), count(*) FILTER (WHERE overdue) FROM matters "
    "WHERE status IN ('filed', 'accepted', 'in_progress', 'returned') GROUP BY tenant_code, kind"
)


async def refresh_gauges(db: Database) -> int:
    """Set the open/overdue gauges from the database; returns the number of (tenant, kind) groups."""
    async with db.read() as session:
        rows = (await session.execute(_STATS)).all()
    OPEN.clear()
    OVERDUE.clear()
    for tenant, kind, open_count, overdue_count in rows:
        OPEN.labels(tenant, kind).set(open_count)
        OVERDUE.labels(tenant, kind).set(overdue_count)
    return len(rows)


class GaugeRefresher:
    def __init__(self, db: Database, every: float) -> None:
        self.db = db
        self.every = every
        self._stop = asyncio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                await refresh_gauges(self.db)
            except Exception as exc:
                log.warning("issues.gauges_failed", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.every)

    def stop(self) -> None:
        self._stop.set()
