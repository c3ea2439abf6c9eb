"""Appending to the ledger: rule entries (idempotent on scorecard, rule, source and subject),
manual entries by evaluators and corrections (opposite entries) by authorised roles.
Nothing is ever updated or deleted."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.scoring import ScoreCorrected, ScoreRecorded
from steward.kit import writes
from steward.kit.auth import Principal
from steward.kit.changes import record_change
from steward.kit.errors import Conflict, NotFound, ValidationFailed
from steward.kit.ids import new_id
from steward.kit.outbox import emit
from steward.kit.tenancy import ancestry_of, ensure_writable, subtree_clause
from steward.rules.scoring import ScorecardDef
from steward.scoring.access import CORRECTORS, EVALUATORS
from steward.scoring.ledger.models import CORRECTION_RULE, MANUAL_RULE, ScoreEntry
from steward.scoring.ledger.schemas import ManualEntryIn
from steward.scoring.periods.keys import period_key
from steward.scoring.periods.models import ClosedPeriod
from steward.scoring.settings import SOURCE


def _recorded(e: ScoreEntry) -> ScoreRecorded:
    return ScoreRecorded(
        entry_id=str(e.id),
        scorecard=e.scorecard,
        period=e.period,
        subject_kind=e.subject_kind,
        subject_id=e.subject_id,
        dimension=e.dimension,
        points=str(e.points),
        rule=e.rule,
        reason_zh=e.reason_zh,
        source_event=e.source if e.rule not in (MANUAL_RULE, CORRECTION_RULE) else None,
        occurred_at=e.occurred_at,
    )


_COLUMNS = [(c.name, c.key) for c in ScoreEntry.__table__.columns]  # type: ignore[attr-defined]
# one statement object, parameters per call: SQLAlchemy compiles it once (hot path of the consumer)
_APPEND = (
    insert(ScoreEntry)
    .on_conflict_do_nothing(constraint="uq_scoring_entries_idempotent")
    .returning(col(ScoreEntry.id))
)


async def append(session: AsyncSession, *, entry: ScoreEntry, announce: bool = True) -> ScoreEntry | None:
    """Insert unless the (scorecard, rule, source, subject) entry exists; ``None`` for a repeat."""
    values = {name: getattr(entry, key) for name, key in _COLUMNS}
    if (await session.execute(_APPEND, values)).first() is None:
        return None
    if announce:
        await emit(session, _recorded(entry), tenant=entry.tenant, source=SOURCE, subject=entry.subject_id)
    return entry


_ENTRIES: sa.Table = ScoreEntry.__table__  # type: ignore[attr-defined]
_SKIP_REPEAT = "ON CONFLICT ON CONSTRAINT uq_scoring_entries_idempotent DO NOTHING"


async def queue(
    session: AsyncSession, batch: writes.WriteBatch, *, entry: ScoreEntry, announce: bool = True
) -> Any:
    """:func:`append` in a ``writes.batched`` block: the entry (nothing for a repeat) and, when
    ``announce``, its ``score.recorded`` event only if the entry is written. Returns the part's key:
    ``batch.wrote(key)`` says after the block whether the entry is new."""
    key = batch.insert(
        _ENTRIES, {name: getattr(entry, k) for name, k in _COLUMNS}, on_conflict=_SKIP_REPEAT, report=True
    )
    if announce:
        with batch.only_if(key):
            await emit(
                session, _recorded(entry), tenant=entry.tenant, source=SOURCE, subject=entry.subject_id
            )
    return key


async def append_many(session: AsyncSession, *, entries: list[ScoreEntry]) -> list[ScoreEntry]:
    """Insert many entries with one multi-row statement; those already there are skipped. Each new
    one is announced (``score.recorded``) like :func:`append` does."""
    if not entries:
        return []
    rows = [{name: getattr(e, key) for name, key in _COLUMNS} for e in entries]
    inserted = {r[0] for r in (await session.execute(_APPEND, rows)).all()}
    written = [e for e in entries if e.id in inserted]
    for e in written:
        await emit(session, _recorded(e), tenant=e.tenant, source=SOURCE, subject=e.subject_id)
    return written


async def closed_period(
    session: AsyncSession, *, path: str, scorecard: str, period: str
) -> ClosedPeriod | None:
    """The closed period covering a tenant path (closed at the tenant itself or an ancestor)."""
    codes = ancestry_of(path)
    row = (
        await session.exec(
            select(ClosedPeriod)
            .where(col(ClosedPeriod.tenant).in_(codes))
            .where(ClosedPeriod.scorecard == scorecard, ClosedPeriod.period == period)
            .order_by(sa.func.length(col(ClosedPeriod.tenant_path)))
            .limit(1)
        )
    ).first()
    return row


async def manual(
    session: AsyncSession,
    *,
    principal: Principal,
    data: ManualEntryIn,
    card: ScorecardDef,
    path: str,
    now: datetime,
) -> ScoreEntry:
    principal.require(*EVALUATORS)
    if card.dimension(data.dimension) is None:
        raise ValidationFailed(
            f"scorecard {card.key!r} has no dimension {data.dimension!r}", code="unknown_dimension"
        )
    occurred = data.occurred_at or now
    if occurred > now:
        raise ValidationFailed("occurred_at lies in the future", code="future_entry")
    period = period_key(card.period, occurred)
    if await closed_period(session, path=path, scorecard=card.key, period=period):
        raise Conflict(f"period {period} of {card.key} is closed", code="period_closed")
    source = f"{principal.subject}:{data.key}" if data.key else str(new_id())
    entry = ScoreEntry(
        tenant=data.tenant,
        tenant_path=path,
        scorecard=card.key,
        period=period,
        subject_kind=card.subject_kind,
        subject_id=data.subject_id,
        subject_name=data.subject_name,
        dimension=data.dimension,
        points=data.points,
        rule=MANUAL_RULE,
        source=source[:80],
        source_type="manual",
        reason_zh=data.reason_zh,
        occurred_at=occurred,
        recorded_at=now,
        actor=principal.subject,
    )
    # the entry, and only if it is new its audit entry and event: one statement (steward.kit.writes)
    async with writes.batched(session) as batch:
        key = await queue(session, batch, entry=entry, announce=False)
        with batch.only_if(key):
            await record_change(
                session,
                actor=principal.subject,
                tenant=data.tenant,
                action="score.manual",
                entity="score_entry",
                entity_id=str(entry.id),
                changes={
                    "points": str(data.points),
                    "dimension": data.dimension,
                    "reason_zh": data.reason_zh,
                },
                event=_recorded(entry),
                source=SOURCE,
                subject=entry.subject_id,
            )
    if not batch.wrote(key):  # the same key again: the entry recorded the first time
        existing = (
            await session.exec(
                select(ScoreEntry).where(
                    ScoreEntry.scorecard == card.key,
                    ScoreEntry.rule == MANUAL_RULE,
                    ScoreEntry.source == entry.source,
                    ScoreEntry.subject_kind == card.subject_kind,
                    ScoreEntry.subject_id == data.subject_id,
                )
            )
        ).one()
        return existing
    return entry


async def get_entry(session: AsyncSession, *, entry_id: uuid.UUID, path: str | None) -> ScoreEntry:
    stmt = select(ScoreEntry).where(ScoreEntry.id == entry_id)
    if path is not None:
        stmt = stmt.where(subtree_clause(ScoreEntry.tenant_path, path))
    found = (await session.exec(stmt)).first()
    if found is None:
        raise NotFound("entry not found")
    return found


async def correct(
    session: AsyncSession, *, principal: Principal, entry_id: uuid.UUID, reason_zh: str, now: datetime
) -> ScoreEntry:
    """Cancel an entry by an opposite one linked to it (once; never a correction of a correction)."""
    principal.require(*CORRECTORS)
    original = await get_entry(session, entry_id=entry_id, path=None)
    ensure_writable(principal, ancestry_of(original.tenant_path))
    if original.corrects is not None:
        raise Conflict(
            "a correction cannot be corrected; record a new entry instead", code="correction_of_correction"
        )
    if await closed_period(
        session, path=original.tenant_path, scorecard=original.scorecard, period=original.period
    ):
        raise Conflict(f"period {original.period} of {original.scorecard} is closed", code="period_closed")
    entry = ScoreEntry(
        tenant=original.tenant,
        tenant_path=original.tenant_path,
        scorecard=original.scorecard,
        period=original.period,
        subject_kind=original.subject_kind,
        subject_id=original.subject_id,
        subject_name=original.subject_name,
        dimension=original.dimension,
        points=-original.points,
        rule=CORRECTION_RULE,
        source=str(original.id),
        source_type="correction",
        reason_zh=reason_zh,
        occurred_at=original.occurred_at,
        recorded_at=now,
        actor=principal.subject,
        corrects=original.id,
    )
    if await append(session, entry=entry, announce=False) is None:
        raise Conflict("this entry was already corrected", code="already_corrected")
    await record_change(
        session,
        actor=principal.subject,
        tenant=original.tenant,
        action="score.corrected",
        entity="score_entry",
        entity_id=str(original.id),
        changes={"correction": str(entry.id), "points": str(entry.points), "reason_zh": reason_zh},
        event=ScoreCorrected(
            entry_id=str(entry.id),
            corrects=str(original.id),
            scorecard=entry.scorecard,
            period=entry.period,
            subject_kind=entry.subject_kind,
            subject_id=entry.subject_id,
            dimension=entry.dimension,
            points=str(entry.points),
            reason_zh=reason_zh,
        ),
        source=SOURCE,
        subject=entry.subject_id,
    )
    return entry


async def entries_of(
    session: AsyncSession, *, path: str, scorecard: str, period: str, subject_id: str | None = None
) -> list[ScoreEntry]:
    stmt = (
        select(ScoreEntry)
        .where(ScoreEntry.scorecard == scorecard, ScoreEntry.period == period)
        .where(subtree_clause(ScoreEntry.tenant_path, path))
    )
    if subject_id is not None:
        stmt = stmt.where(ScoreEntry.subject_id == subject_id)
    return list((await session.exec(stmt.order_by(col(ScoreEntry.occurred_at), col(ScoreEntry.id)))).all())
