"""REST API of rankings: members and groups, exemptions, indicator values, preview, publish,
consequences and exports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.auth import Principal
from steward.kit.changes import record_change
from steward.kit.http import PrincipalDep
from steward.kit.ids import new_id
from steward.kit.inputs import clean_request
from steward.kit.tenancy import subtree_clause
from steward.rules.scoring import RankingDef, ScorecardDef
from steward.scoring import access, exports
from steward.scoring.context import CtxDep, ScoringContext
from steward.scoring.periods.keys import PERIOD_PATTERN
from steward.scoring.rankings import service
from steward.scoring.rankings.models import (
    Consequence,
    IndicatorValue,
    PublishedRanking,
    RankingExemption,
    RankingMember,
)
from steward.scoring.rankings.schemas import (
    ConsequenceOut,
    ExemptionIn,
    IndicatorsIn,
    MembersIn,
    PublishIn,
    RankingOut,
    RankingRow,
)
from steward.scoring.settings import SOURCE

router = APIRouter(prefix="/v1/scoring", tags=["rankings"], dependencies=[Depends(clean_request)])
Key = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
PeriodP = Annotated[str, Path(pattern=PERIOD_PATTERN)]
TenantQ = Annotated[str | None, Query(pattern=r"^[0-9]{6}([0-9]{3}){0,2}$")]


async def definitions(ctx: ScoringContext, tenant: str, key: str) -> tuple[RankingDef, ScorecardDef | None]:
    definition = await access.ranking(ctx, tenant, key)
    card = await access.scorecard(ctx, tenant, definition.scorecard) if definition.scorecard else None
    return definition, card


async def ranking_out(
    session: AsyncSession,
    *,
    definition: RankingDef,
    card: ScorecardDef | None,
    tenant: str,
    path: str,
    period: str,
) -> RankingOut:
    published = (
        await session.exec(
            select(PublishedRanking).where(
                PublishedRanking.tenant == tenant,
                PublishedRanking.ranking == definition.key,
                PublishedRanking.period == period,
            )
        )
    ).first()
    if published is not None:
        definition = RankingDef.model_validate(published.definition)
        rows = [RankingRow.model_validate(r) for r in published.rows]
        cons = (
            await session.exec(
                select(Consequence)
                .where(Consequence.tenant == tenant, Consequence.cause == f"{definition.key}/{period}")
                .order_by(col(Consequence.triggered_at), col(Consequence.id))
            )
        ).all()
    else:
        rows = await service.compute(
            session, definition=definition, card=card, tenant=tenant, path=path, period=period
        )
        cons = []
    return RankingOut(
        tenant=tenant,
        ranking=definition.key,
        name_zh=definition.name_zh,
        period=period,
        published=published is not None,
        published_at=published.published_at if published else None,
        public=definition.public,
        top_n=definition.top_n,
        bottom_n=definition.bottom_n,
        rows=rows,
        consequences=[service.consequence_out(c) for c in cons],
    )


@router.get(
    "/rankings/{ranking}/{period}", response_model=RankingOut, summary="A ranking (published, or a preview)"
)
async def get_ranking(
    ctx: CtxDep, principal: PrincipalDep, ranking: Key, period: PeriodP, tenant: TenantQ = None
) -> RankingOut:
    code, path = await access.readable(ctx, principal, tenant)
    definition, card = await definitions(ctx, code, ranking)
    async with ctx.db.read() as session:
        return await ranking_out(
            session, definition=definition, card=card, tenant=code, path=path, period=period
        )


@router.post(
    "/rankings/{ranking}/{period}/publish",
    response_model=RankingOut,
    status_code=201,
    summary="Publish a ranking once: ranking.published, and each consequence.triggered once",
)
async def publish_ranking(
    ctx: CtxDep, principal: PrincipalDep, ranking: Key, period: PeriodP, body: PublishIn
) -> RankingOut:
    code, path = await access.writable(ctx, principal, body.tenant)
    definition, card = await definitions(ctx, code, ranking)
    async with ctx.db.transaction() as session:
        await service.publish(
            session,
            principal=principal,
            definition=definition,
            card=card,
            tenant=code,
            path=path,
            period=period,
            now=ctx.clock(),
        )
        return await ranking_out(
            session, definition=definition, card=card, tenant=code, path=path, period=period
        )


@router.get(
    "/rankings/{ranking}/{period}/export",
    summary="A ranking as CSV or XLSX",
    responses=exports.RESPONSES,
    response_class=Response,
)
async def export_ranking(
    ctx: CtxDep,
    principal: PrincipalDep,
    ranking: Key,
    period: PeriodP,
    tenant: TenantQ = None,
    format: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "csv",
) -> Response:
    out = await get_ranking(ctx, principal, ranking, period, tenant)
    header = ["组别", "排名", "对象", "名称", "得分", "前列", "后列", "倒数第一", "免于排名"]
    rows = [
        [
            r.group,
            r.rank if r.rank is not None else "",
            r.subject_id,
            r.subject_name or "",
            str(r.total) if r.total is not None else "",
            "是" if r.top else "",
            "是" if r.bottom else "",
            "是" if r.last else "",
            r.exemption or "",
        ]
        for r in out.rows
    ]
    return exports.respond(f"ranking-{out.tenant}-{ranking}-{period}", header, rows, format)


def _admin(principal: Principal) -> None:
    principal.require(*access.PUBLISHERS)


@router.put(
    "/rankings/{ranking}/members", status_code=204, summary="Set the ranked subjects and their groups"
)
async def put_members(ctx: CtxDep, principal: PrincipalDep, ranking: Key, body: MembersIn) -> None:
    _admin(principal)
    code, _ = await access.writable(ctx, principal, body.tenant)
    await access.ranking(ctx, code, ranking)
    async with ctx.db.transaction() as session:
        for m in body.members:
            stmt = insert(RankingMember).values(
                id=new_id(),
                tenant=code,
                ranking=ranking,
                subject_id=m.subject_id,
                subject_name=m.subject_name,
                grp=m.group,
            )
            await session.execute(
                stmt.on_conflict_do_update(
                    constraint="uq_scoring_members",
                    set_={"subject_name": stmt.excluded.subject_name, "grp": stmt.excluded.grp},
                )
            )
        await record_change(
            session,
            actor=principal.subject,
            tenant=code,
            action="ranking.members",
            entity="ranking",
            entity_id=ranking,
            changes={"members": len(body.members)},
            source=SOURCE,
        )


@router.post(
    "/rankings/{ranking}/exemptions",
    status_code=201,
    summary="Exempt a subject from a period (with approver)",
)
async def add_exemption(
    ctx: CtxDep, principal: PrincipalDep, ranking: Key, body: ExemptionIn
) -> dict[str, str]:
    _admin(principal)
    code, _ = await access.writable(ctx, principal, body.tenant)
    await access.ranking(ctx, code, ranking)
    async with ctx.db.transaction() as session:
        stmt = (
            insert(RankingExemption)
            .values(
                id=new_id(),
                tenant=code,
                ranking=ranking,
                period=body.period,
                subject_id=body.subject_id,
                reason=body.reason,
                approver=body.approver,
                recorded_by=principal.subject,
                recorded_at=ctx.clock(),
            )
            .on_conflict_do_nothing(constraint="uq_scoring_exemptions")
        )
        await session.execute(stmt)
        await record_change(
            session,
            actor=principal.subject,
            tenant=code,
            action="ranking.exemption",
            entity="ranking",
            entity_id=ranking,
            changes=body.model_dump(mode="json"),
            source=SOURCE,
        )
    return {"status": "exempt"}


@router.put(
    "/rankings/{ranking}/indicators",
    status_code=204,
    summary="Post indicator values (rankings without a scorecard)",
)
async def put_indicators(ctx: CtxDep, principal: PrincipalDep, ranking: Key, body: IndicatorsIn) -> None:
    _admin(principal)
    code, _ = await access.writable(ctx, principal, body.tenant)
    await access.ranking(ctx, code, ranking)
    async with ctx.db.transaction() as session:
        for v in body.values:
            stmt = insert(IndicatorValue).values(
                id=new_id(),
                tenant=code,
                ranking=ranking,
                period=body.period,
                subject_id=v.subject_id,
                value=v.value,
                recorded_by=principal.subject,
                recorded_at=ctx.clock(),
            )
            await session.execute(
                stmt.on_conflict_do_update(
                    constraint="uq_scoring_indicators", set_={"value": stmt.excluded.value}
                )
            )


@router.get(
    "/consequences", response_model=list[ConsequenceOut], summary="Consequences in the tenant subtree"
)
async def list_consequences(
    ctx: CtxDep,
    principal: PrincipalDep,
    tenant: TenantQ = None,
    subject_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ConsequenceOut]:
    _, path = await access.readable(ctx, principal, tenant)
    stmt = select(Consequence).where(subtree_clause(Consequence.tenant_path, path))
    if subject_id:
        stmt = stmt.where(Consequence.subject_id == subject_id)
    async with ctx.db.read() as session:
        rows = (await session.exec(stmt.order_by(col(Consequence.triggered_at).desc()).limit(limit))).all()
    return [service.consequence_out(c) for c in rows]
