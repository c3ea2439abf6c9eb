"""REST API of project warning lights (红黄绿灯) and the four rates (四率)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from sqlmodel import col, select

from steward.kit.auth import Role
from steward.kit.changes import record_change
from steward.kit.errors import NotFound
from steward.kit.http import PrincipalDep
from steward.kit.inputs import clean_request
from steward.kit.tenancy import ancestry_of, ensure_visible, ensure_writable, subtree_clause
from steward.scoring import access
from steward.scoring.context import CtxDep
from steward.scoring.lights import service
from steward.scoring.lights.models import LightChange, ProjectLight
from steward.scoring.lights.schemas import LightChangeOut, LightOut, PlanIn, Rates
from steward.scoring.settings import SOURCE

router = APIRouter(prefix="/v1/scoring", tags=["lights"], dependencies=[Depends(clean_request)])
ProjectId = Annotated[str, Path(min_length=1, max_length=64)]
TenantQ = Annotated[str | None, Query(pattern=r"^[0-9]{6}([0-9]{3}){0,2}$")]


def light_out(p: ProjectLight, history: list[LightChange] | None = None) -> LightOut:
    return LightOut(
        project_id=p.project_id,
        tenant=p.tenant,
        code=p.code,
        name=p.name,
        stage=p.stage,
        light=p.light,
        reasons=p.reasons,
        annual_plan=p.annual_plan,
        investment_year=p.investment_year,
        delayed_milestones=len(p.delayed_milestones),
        overdue_matters=len(p.overdue_matters),
        missing_reports=len(p.missing_reports),
        updated_at=p.updated_at,
        history=[
            LightChangeOut(from_light=h.from_light, to_light=h.to_light, reasons=h.reasons, at=h.at)
            for h in history or []
        ],
    )


@router.get("/lights", response_model=list[LightOut], summary="Warning lights of the subtree's projects")
async def list_lights(
    ctx: CtxDep,
    principal: PrincipalDep,
    tenant: TenantQ = None,
    light: Annotated[str | None, Query(pattern="^(red|yellow|green)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[LightOut]:
    _, path = await access.readable(ctx, principal, tenant)
    stmt = select(ProjectLight).where(subtree_clause(ProjectLight.tenant_path, path))
    if light:
        stmt = stmt.where(ProjectLight.light == light)
    async with ctx.db.read() as session:
        rows = (await session.exec(stmt.order_by(col(ProjectLight.project_id)).limit(limit))).all()
    return [light_out(p) for p in rows]


async def get_light(ctx: CtxDep, principal: PrincipalDep, project_id: str) -> LightOut:
    async with ctx.db.read() as session:
        p = (await session.exec(select(ProjectLight).where(ProjectLight.project_id == project_id))).first()
        if p is None:
            raise NotFound("project light not found")
        ensure_visible(principal, ancestry_of(p.tenant_path), what="project light")
        history = (
            await session.exec(
                select(LightChange).where(LightChange.project_id == project_id).order_by(col(LightChange.at))
            )
        ).all()
    return light_out(p, list(history))


@router.get(
    "/lights/rates",
    response_model=Rates,
    summary="The four rates (开工率, 投资完成率, 资金到位率, 按期竣工率)",
)
async def four_rates(
    ctx: CtxDep,
    principal: PrincipalDep,
    year: Annotated[int, Query(ge=2000, le=2100)],
    tenant: TenantQ = None,
) -> Rates:
    code, path = await access.readable(ctx, principal, tenant)
    async with ctx.db.read() as session:
        rows = list(
            (
                await session.exec(select(ProjectLight).where(subtree_clause(ProjectLight.tenant_path, path)))
            ).all()
        )
    counts = {c: sum(1 for p in rows if p.light == c) for c in ("red", "yellow", "green")}
    return Rates(tenant=code, year=year, projects=len(rows), counts=counts, **service.rates(rows, year))


@router.get("/lights/{project_id}", response_model=LightOut, summary="A project's light with every change")
async def project_light(ctx: CtxDep, principal: PrincipalDep, project_id: ProjectId) -> LightOut:
    return await get_light(ctx, principal, project_id)


@router.put("/lights/{project_id}/plan", response_model=LightOut, summary="Set plan figures (admins)")
async def put_plan(ctx: CtxDep, principal: PrincipalDep, project_id: ProjectId, body: PlanIn) -> LightOut:
    principal.require(Role.TENANT_ADMIN, Role.PLATFORM_ADMIN, Role.DISPATCHER)
    async with ctx.db.transaction() as session:
        p = (
            await session.exec(
                select(ProjectLight).where(ProjectLight.project_id == project_id).with_for_update()
            )
        ).first()
        if p is None:
            raise NotFound("project light not found")
        ensure_writable(principal, ancestry_of(p.tenant_path))
        for k, v in body.model_dump(exclude_unset=True).items():
            setattr(p, k, v)
        rules = await ctx.registry.rules(p.tenant)
        await service.reevaluate(
            session, p=p, rules=rules.scorecards.lights, now=ctx.clock(), source_event=None
        )
        await record_change(
            session,
            actor=principal.subject,
            tenant=p.tenant,
            action="light.plan",
            entity="project_light",
            entity_id=project_id,
            changes=body.model_dump(mode="json", exclude_unset=True),
            source=SOURCE,
        )
    return await get_light(ctx, principal, project_id)
