"""Rankings: totals of a scorecard period (or posted indicator values) ranked per group, ties
sharing a rank (1, 2, 2, 4); exemptions left out; top N praised, bottom N criticised; consequences
of consecutive positions (last twice → 诫勉谈话, three times → 报请组织部门处理), each once."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, TypedDict, Unpack

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.scoring import ConsequenceTriggered, RankingPublished
from steward.kit import writes
from steward.kit.auth import Principal
from steward.kit.changes import record_change
from steward.kit.errors import Conflict
from steward.kit.ids import new_id
from steward.kit.outbox import emit
from steward.rules.scoring import RankingDef, ScorecardDef
from steward.scoring import metrics
from steward.scoring.access import PUBLISHERS
from steward.scoring.ledger.service import closed_period
from steward.scoring.ledger.totals import subject_totals, total_of
from steward.scoring.periods.keys import ensure_kind, previous
from steward.scoring.rankings.models import (
    Consequence,
    IndicatorValue,
    PublishedRanking,
    RankingExemption,
    RankingMember,
)
from steward.scoring.rankings.schemas import ConsequenceOut, RankingRow
from steward.scoring.settings import SOURCE

ACTION_ZH = {
    "praise": "通报表扬",
    "public_criticism": "通报批评",
    "warning": "警告",
    "admonition": "对行政一把手进行诫勉谈话",
    "written_self_criticism": "写出书面检查",
    "refer_to_organisation_dept": "报请组织部门处理",
}
POSITION_ZH = {"last": "排名倒数第一", "bottom_n": "排名后{n}名", "top_n": "排名前{n}名"}


async def _totals(
    session: AsyncSession,
    *,
    definition: RankingDef,
    card: ScorecardDef | None,
    tenant: str,
    path: str,
    period: str,
) -> dict[str, Decimal]:
    if card is not None:
        closed = await closed_period(session, path=path, scorecard=card.key, period=period)
        if closed is not None:
            return {s: Decimal(v["total"]) for s, v in closed.totals.items()}
        live = await subject_totals(session, card=card, path=path, period=period)
        return {s: total_of(d) for s, d in live.items()}
    rows = (
        await session.exec(
            select(IndicatorValue).where(
                IndicatorValue.tenant == tenant,
                IndicatorValue.ranking == definition.key,
                IndicatorValue.period == period,
            )
        )
    ).all()
    return {r.subject_id: r.value for r in rows}


def rank_rows(rows: list[RankingRow], *, top_n: int, bottom_n: int) -> list[RankingRow]:
    """Competition ranking per group: ties share a rank (1, 2, 2, 4); exempt rows are not ranked.
    Bottom N counts from the end the same way (ties share it) but never includes a top-N row; last
    place is the lowest total of a group unless the whole group ties."""
    groups: dict[str, list[RankingRow]] = {}
    for r in rows:
        if not r.exempt and r.total is not None:
            groups.setdefault(r.group, []).append(r)
    for members in groups.values():
        totals = sorted((m.total for m in members if m.total is not None), reverse=True)
        for m in members:
            assert m.total is not None
            m.rank = 1 + sum(1 for t in totals if t > m.total)
            m.reverse_rank = 1 + sum(1 for t in totals if t < m.total)
            m.top = m.rank <= top_n
            # praise wins over criticism in small groups; when everyone ties nobody is last
            m.bottom = m.reverse_rank <= bottom_n and not m.top
            m.last = m.reverse_rank == 1 and m.rank > 1
    return sorted(rows, key=lambda r: (r.group, r.rank is None, r.rank or 0, r.subject_id))


async def compute(
    session: AsyncSession,
    *,
    definition: RankingDef,
    card: ScorecardDef | None,
    tenant: str,
    path: str,
    period: str,
) -> list[RankingRow]:
    ensure_kind(period, definition.period)
    totals = await _totals(session, definition=definition, card=card, tenant=tenant, path=path, period=period)
    members = (
        await session.exec(
            select(RankingMember).where(
                RankingMember.tenant == tenant, RankingMember.ranking == definition.key
            )
        )
    ).all()
    exempt = {
        e.subject_id: e
        for e in (
            await session.exec(
                select(RankingExemption).where(
                    RankingExemption.tenant == tenant,
                    RankingExemption.ranking == definition.key,
                    RankingExemption.period == period,
                )
            )
        ).all()
    }
    full = card.total_points if card is not None else None
    rows: list[RankingRow] = []
    if members:
        for m in members:
            total = totals.get(m.subject_id, full)
            rows.append(
                RankingRow(
                    subject_id=m.subject_id,
                    subject_name=m.subject_name,
                    group=m.group,
                    total=total,
                    rank=None,
                )
            )
    else:
        rows = [RankingRow(subject_id=s, total=t, rank=None) for s, t in totals.items()]
    for r in rows:
        if r.subject_id in exempt:
            e = exempt[r.subject_id]
            r.exempt, r.exemption = True, f"{e.reason}（批准：{e.approver}）"
    return rank_rows(rows, top_n=definition.top_n, bottom_n=definition.bottom_n)


def _at(row: dict[str, Any] | RankingRow, position: str) -> bool:
    get = row.get if isinstance(row, dict) else lambda k, d=None: getattr(row, k, d)
    return bool(get({"last": "last", "bottom_n": "bottom", "top_n": "top"}[position], False))


async def _streak(
    session: AsyncSession, *, tenant: str, ranking: str, period: str, subject: str, position: str, limit: int
) -> int:
    """Consecutive published periods, up to and including this one, with the subject at ``position``
    (an exempt period neither counts nor breaks the run)."""
    streak, key, looked = 1, period, 0
    while streak < limit and looked < 4 * limit:
        key, looked = previous(key), looked + 1
        prior = (
            await session.exec(
                select(PublishedRanking).where(
                    PublishedRanking.tenant == tenant,
                    PublishedRanking.ranking == ranking,
                    PublishedRanking.period == key,
                )
            )
        ).first()
        if prior is None:
            break
        row = next((r for r in prior.rows if r["subject_id"] == subject), None)
        if row is None:
            break
        if row.get("exempt"):
            continue
        if not _at(row, position):
            break
        streak += 1
    return streak


def consequence_out(c: Consequence) -> ConsequenceOut:
    return ConsequenceOut.model_validate(c, from_attributes=True)


async def publish(
    session: AsyncSession,
    *,
    principal: Principal,
    definition: RankingDef,
    card: ScorecardDef | None,
    tenant: str,
    path: str,
    period: str,
    now: datetime,
) -> tuple[PublishedRanking, list[Consequence]]:
    principal.require(*PUBLISHERS)
    rows = await compute(session, definition=definition, card=card, tenant=tenant, path=path, period=period)
    stmt = (
        insert(PublishedRanking)
        .values(
            id=new_id(),
            tenant=tenant,
            tenant_path=path,
            ranking=definition.key,
            period=period,
            published_at=now,
            published_by=principal.subject,
            definition=definition.model_dump(mode="json"),
            rows=[r.model_dump(mode="json") for r in rows],
        )
        .on_conflict_do_nothing(constraint="uq_scoring_rankings")
        .returning(col(PublishedRanking.id))
    )
    if (await session.execute(stmt)).first() is None:
        raise Conflict(f"ranking {definition.key} of {period} is already published", code="already_published")
    published = (
        await session.exec(
            select(PublishedRanking).where(
                PublishedRanking.tenant == tenant,
                PublishedRanking.ranking == definition.key,
                PublishedRanking.period == period,
            )
        )
    ).one()
    ranked = [r for r in rows if r.rank is not None]
    await record_change(
        session,
        actor=principal.subject,
        tenant=tenant,
        action="ranking.published",
        entity="ranking",
        entity_id=str(published.id),
        changes={"ranking": definition.key, "period": period, "subjects": len(ranked)},
        event=RankingPublished(
            ranking_id=str(published.id),
            ranking=definition.key,
            name_zh=definition.name_zh,
            period=period,
            public=definition.public,
            subjects=len(ranked),
            top=[r.subject_id for r in ranked if r.top],
            bottom=[r.subject_id for r in ranked if r.bottom],
            last=[r.subject_id for r in ranked if r.last],
        ),
        source=SOURCE,
        subject=f"{definition.key}/{period}",
    )
    triggered: list[Consequence] = []
    for cons in definition.consequences:
        for row in ranked:
            if not _at(row, cons.position):
                continue
            streak = await _streak(
                session,
                tenant=tenant,
                ranking=definition.key,
                period=period,
                subject=row.subject_id,
                position=cons.position,
                limit=cons.consecutive + 1,  # one more than needed: "exactly k in a row" fires once
            )
            if cons.consecutive > 1 and streak != cons.consecutive:
                continue
            n = definition.top_n if cons.position == "top_n" else definition.bottom_n
            where = POSITION_ZH[cons.position].format(n=n)
            times = f"连续{cons.consecutive}次" if cons.consecutive > 1 else ""
            for action in cons.actions:
                c = await trigger(
                    session,
                    tenant=tenant,
                    path=path,
                    source="ranking",
                    definition=definition.key,
                    cause=f"{definition.key}/{period}",
                    subject_kind=definition.subject_kind,
                    subject_id=row.subject_id,
                    subject_name=row.subject_name,
                    action=action,
                    streak=streak,
                    reason_zh=f"{definition.name_zh}{period}：{times}{where}，{ACTION_ZH[action]}",
                    now=now,
                )
                if c is not None:
                    triggered.append(c)
    return published, triggered


class ConsequenceArgs(TypedDict):
    """What a consequence is (the keywords of :func:`trigger` and :func:`queue_trigger`)."""

    tenant: str
    path: str
    source: str
    definition: str
    cause: str
    subject_kind: str
    subject_id: str
    subject_name: str | None
    action: str
    streak: int
    reason_zh: str
    now: datetime


def _consequence(**what: Unpack[ConsequenceArgs]) -> tuple[Consequence, ConsequenceTriggered]:
    common: dict[str, Any] = {k: v for k, v in what.items() if k not in ("tenant", "path", "now")}
    c = Consequence(tenant=what["tenant"], tenant_path=what["path"], triggered_at=what["now"], **common)
    announced = ConsequenceTriggered(consequence_id=str(c.id), **common)
    return c, announced


_CONSEQUENCES = Consequence.__table__  # type: ignore[attr-defined]
_ONCE = "ON CONFLICT ON CONSTRAINT uq_scoring_consequences DO NOTHING"


async def trigger(session: AsyncSession, **what: Unpack[ConsequenceArgs]) -> Consequence | None:
    """Record a consequence once per (cause, subject, action) and announce it; ``None`` for a repeat."""
    c, announced = _consequence(**what)
    values = {col_.name: getattr(c, col_.key) for col_ in _CONSEQUENCES.columns}
    stmt = insert(Consequence).values(**values).on_conflict_do_nothing(constraint="uq_scoring_consequences")
    if (await session.execute(stmt.returning(col(Consequence.id)))).first() is None:
        return None
    await emit(session, announced, tenant=c.tenant, source=SOURCE, subject=c.subject_id)
    metrics.CONSEQUENCES.labels(c.source, c.action).inc()
    return c


async def queue_trigger(
    session: AsyncSession, batch: writes.WriteBatch, **what: Unpack[ConsequenceArgs]
) -> tuple[Consequence, Any]:
    """:func:`trigger` in a ``writes.batched`` block: the consequence, announced only if new. After
    the block ``batch.wrote(key)`` says whether it was (then count it: :func:`counted`)."""
    c, announced = _consequence(**what)
    values = {col_.name: getattr(c, col_.key) for col_ in _CONSEQUENCES.columns}
    key = batch.insert(_CONSEQUENCES, values, on_conflict=_ONCE, report=True)
    with batch.only_if(key):
        await emit(session, announced, tenant=c.tenant, source=SOURCE, subject=c.subject_id)
    return c, key


def counted(c: Consequence) -> Consequence:
    metrics.CONSEQUENCES.labels(c.source, c.action).inc()
    return c
