"""Closing a period freezes the scorecard definition it used and records its totals; a replay
recomputes the totals from the ledger under the frozen definition and compares them."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.scoring import PeriodClosed
from steward.kit.auth import Principal
from steward.kit.changes import record_change
from steward.kit.errors import Conflict, NotFound
from steward.kit.tenancy import subtree_clause
from steward.rules.scoring import ScorecardDef
from steward.scoring.access import CORRECTORS
from steward.scoring.ledger.models import ScoreEntry
from steward.scoring.ledger.service import closed_period
from steward.scoring.ledger.totals import subject_totals, total_of
from steward.scoring.periods.keys import bounds, ensure_kind
from steward.scoring.periods.models import ClosedPeriod
from steward.scoring.periods.schemas import Difference, PeriodOut, ReplayOut
from steward.scoring.settings import SOURCE


def fingerprint(card: ScorecardDef) -> str:
    text = json.dumps(card.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def plain_totals(totals: dict[str, dict[str, Decimal]]) -> dict[str, Any]:
    return {
        s: {"total": str(total_of(d)), "dimensions": {k: str(v) for k, v in sorted(d.items())}}
        for s, d in sorted(totals.items())
    }


def digest(plain: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(plain, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def to_out(p: ClosedPeriod) -> PeriodOut:
    return PeriodOut(
        tenant=p.tenant,
        scorecard=p.scorecard,
        period=p.period,
        closed_at=p.closed_at,
        closed_by=p.closed_by,
        rules_version=p.rules_version,
        subjects=len(p.totals),
        entries=p.entries,
        digest=p.digest,
    )


async def close(
    session: AsyncSession,
    *,
    principal: Principal,
    card: ScorecardDef,
    tenant: str,
    path: str,
    period: str,
    now: datetime,
) -> ClosedPeriod:
    principal.require(*CORRECTORS)
    ensure_kind(period, card.period)
    _, end = bounds(period)
    if now < end:
        raise Conflict(f"period {period} has not ended yet", code="period_not_over")
    if await closed_period(session, path=path, scorecard=card.key, period=period):
        raise Conflict(f"period {period} of {card.key} is already closed", code="period_closed")
    await session.execute(
        sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"{tenant}/{card.key}/{period}"}
    )
    totals = plain_totals(
        await subject_totals(session, card=card, path=path, period=period, recorded_before=now)
    )
    count = (
        await session.exec(
            select(sa.func.count())
            .select_from(ScoreEntry)
            .where(
                ScoreEntry.scorecard == card.key, ScoreEntry.period == period, ScoreEntry.recorded_at <= now
            )
            .where(subtree_clause(ScoreEntry.tenant_path, path))
        )
    ).one()
    row = ClosedPeriod(
        tenant=tenant,
        tenant_path=path,
        scorecard=card.key,
        period=period,
        closed_at=now,
        closed_by=principal.subject,
        rules_version=fingerprint(card),
        definition=card.model_dump(mode="json"),
        totals=totals,
        digest=digest(totals),
        entries=int(count),
    )
    session.add(row)
    await record_change(
        session,
        actor=principal.subject,
        tenant=tenant,
        action="period.closed",
        entity="scoring_period",
        entity_id=f"{card.key}/{period}",
        changes={"rules_version": row.rules_version, "digest": row.digest},
        event=PeriodClosed(
            scorecard=card.key,
            period=period,
            rules_version=row.rules_version,
            subjects=len(totals),
            entries=row.entries,
            digest=row.digest,
        ),
        source=SOURCE,
        subject=f"{card.key}/{period}",
    )
    return row


async def get_closed(session: AsyncSession, *, tenant: str, scorecard: str, period: str) -> ClosedPeriod:
    row = (
        await session.exec(
            select(ClosedPeriod).where(
                ClosedPeriod.tenant == tenant,
                ClosedPeriod.scorecard == scorecard,
                ClosedPeriod.period == period,
            )
        )
    ).first()
    if row is None:
        raise NotFound("closed period not found")
    return row


async def replay(session: AsyncSession, *, closed: ClosedPeriod) -> ReplayOut:
    """Recompute from the ledger (entries recorded up to the close) under the frozen definition."""
    card = ScorecardDef.model_validate(closed.definition)
    replayed = plain_totals(
        await subject_totals(
            session,
            card=card,
            path=closed.tenant_path,
            period=closed.period,
            recorded_before=closed.closed_at,
        )
    )
    differences: list[Difference] = []
    for subject in sorted(set(replayed) | set(closed.totals)):
        a = closed.totals.get(subject, {}).get("dimensions", {})
        b = replayed.get(subject, {}).get("dimensions", {})
        for dim in sorted(set(a) | set(b)):
            if a.get(dim) != b.get(dim):
                differences.append(
                    Difference(
                        subject_id=subject,
                        dimension=dim,
                        frozen=Decimal(a[dim]) if dim in a else None,
                        replayed=Decimal(b[dim]) if dim in b else None,
                    )
                )
    again = digest(replayed)
    return ReplayOut(
        tenant=closed.tenant,
        scorecard=closed.scorecard,
        period=closed.period,
        rules_version=closed.rules_version,
        identical=not differences and again == closed.digest,
        frozen_digest=closed.digest,
        replayed_digest=again,
        subjects=len(replayed),
        differences=differences,
    )
