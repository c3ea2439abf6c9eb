"""A subject's score for a period: every dimension and every entry behind it."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.errors import NotFound
from steward.rules.scoring import ScorecardDef
from steward.scoring.ledger.compute import compute
from steward.scoring.ledger.models import ScoreEntry
from steward.scoring.ledger.schemas import DimensionOut, EntryOut, ScoreOut
from steward.scoring.ledger.service import closed_period, entries_of


def entry_out(e: ScoreEntry, **extra: object) -> EntryOut:
    return EntryOut(
        id=e.id,
        tenant=e.tenant,
        scorecard=e.scorecard,
        period=e.period,
        subject_kind=e.subject_kind,
        subject_id=e.subject_id,
        subject_name=e.subject_name,
        dimension=e.dimension,
        points=e.points,
        rule=e.rule,
        source=e.source,
        source_type=e.source_type,
        reason_zh=e.reason_zh,
        occurred_at=e.occurred_at,
        recorded_at=e.recorded_at,
        actor=e.actor,
        corrects=e.corrects,
        **extra,  # type: ignore[arg-type]
    )


async def score_of(
    session: AsyncSession,
    *,
    card: ScorecardDef,
    tenant: str,
    path: str,
    period: str,
    subject_id: str,
) -> ScoreOut:
    closed = await closed_period(session, path=path, scorecard=card.key, period=period)
    if closed is not None:
        card = ScorecardDef.model_validate(closed.definition)
    entries = await entries_of(session, path=path, scorecard=card.key, period=period, subject_id=subject_id)
    if not entries:
        raise NotFound("no score for this subject in this period")
    before = closed.closed_at if closed is not None else None
    counted = [e for e in entries if before is None or e.recorded_at <= before]
    result = compute(card, counted)  # type: ignore[arg-type]
    applied = {a.entry_id: a for a in result.applied}
    out: list[EntryOut] = []
    for e in entries:
        a = applied.get(e.id)
        if a is None:
            out.append(entry_out(e, applied=None, note="期间关闭后记录，不计入冻结得分", after_close=True))
        else:
            out.append(entry_out(e, applied=a.applied, value_after=a.value_after, note=a.note))
    order = {a.entry_id: i for i, a in enumerate(result.applied)}
    out.sort(key=lambda x: (order.get(x.id, len(order)), x.recorded_at))
    return ScoreOut(
        tenant=tenant,
        scorecard=card.key,
        name_zh=card.name_zh,
        period=period,
        subject_kind=card.subject_kind,
        subject_id=subject_id,
        subject_name=next((e.subject_name for e in entries if e.subject_name), None),
        total=result.total,
        max_total=result.max_total,
        closed=closed is not None,
        rules_version=closed.rules_version if closed is not None else None,
        dimensions=[
            DimensionOut(
                key=d.key, name_zh=d.name_zh, max_points=d.max_points, value=result.dimensions[d.key]
            )
            for d in card.dimensions
        ],
        entries=out,
    )
