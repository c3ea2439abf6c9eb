"""Set-based totals: every subject's dimensions of a scorecard period in one SQL statement, with the
ordered aggregate ``scoring_clamped_sum`` (the database twin of :func:`compute.compute`). Rankings
over a million entries never load them into Python."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.straight import set_local
from steward.kit.tenancy import subtree_prefix
from steward.rules.scoring import ScorecardDef
from steward.scoring.ledger.compute import bounds

_SQL = """
SELECT e.subject_id COLLATE "C", d.dimension COLLATE "C",
       scoring_clamped_sum(e.points, d.lo, d.hi ORDER BY e.occurred_at, e.source COLLATE "C", e.rule COLLATE "C")
FROM scoring_entries e
JOIN unnest(CAST(:dims AS text[]), CAST(:los AS numeric[]), CAST(:his AS numeric[])) AS d(dimension, lo, hi)
  ON d.dimension = e.dimension
WHERE e.scorecard = :scorecard AND e.period = :period
  AND (e.tenant_path = :path OR e.tenant_path LIKE :prefix)
  AND e.corrects IS NULL
  AND (CAST(:before AS timestamptz) IS NULL OR e.recorded_at <= CAST(:before AS timestamptz))
  AND e.id NOT IN (
      SELECT c.corrects FROM scoring_entries c
      WHERE c.corrects IS NOT NULL AND c.scorecard = :scorecard AND c.period = :period
        AND (CAST(:before AS timestamptz) IS NULL OR c.recorded_at <= CAST(:before AS timestamptz)))
GROUP BY e.subject_id COLLATE "C", d.dimension COLLATE "C"
"""


async def subject_totals(
    session: AsyncSession,
    *,
    card: ScorecardDef,
    path: str,
    period: str,
    recorded_before: datetime | None = None,
) -> dict[str, dict[str, Decimal]]:
    """``{subject_id: {dimension: value}}`` for every subject with entries in the subtree; dimensions
    without entries are at their maximum."""
    dims, los, his = [], [], []
    for d in card.dimensions:
        _, lo, hi = bounds(card, d.key)
        dims.append(d.key)
        los.append(lo)
        his.append(hi)
    params: dict[str, Any] = {
        "dims": dims,
        "los": los,
        "his": his,
        "scorecard": card.key,
        "period": period,
        "path": path,
        "prefix": subtree_prefix(path).replace("%", r"\%").replace("_", r"\_") + "%",
        "before": recorded_before,
    }
    # the sort of a large ranking (a million entries) stays in memory instead of spilling to disk
    await set_local(session, "work_mem", "128MB")
    rows = (await session.execute(sa.text(_SQL), params)).all()
    out: dict[str, dict[str, Decimal]] = {}
    maxima = {d.key: d.max_points for d in card.dimensions}
    for subject_id, dimension, offset in rows:
        out.setdefault(subject_id, dict(maxima))[dimension] = maxima[dimension] + Decimal(offset)
    return out


def total_of(dimensions: dict[str, Decimal]) -> Decimal:
    return sum(dimensions.values(), Decimal(0))
