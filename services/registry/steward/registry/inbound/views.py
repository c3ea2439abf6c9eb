"""REST API of the registry's inbound interface (docs/inbound.md): signed callbacks of the statistics
and land systems, one message or a bulk; the inbound log; a project's statistics facts."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlmodel import col, select

from steward.kit.auth import Role
from steward.kit.http import PrincipalDep
from steward.kit.inbound import Sender, SignatureHeader, SystemHeader, load_systems, verify_request
from steward.kit.inbound_log import BulkOut, InboundLog, InboundLogItem, InboundResult
from steward.kit.inputs import clean_request
from steward.kit.tenancy import ALL_TENANTS, ancestry_of
from steward.registry.context import CtxDep
from steward.registry.inbound import apply, service
from steward.registry.inbound.schemas import (
    MonthOut,
    ProjectBulk,
    RegistryMessage,
    StatisticsOut,
    StatisticsStatus,
)
from steward.registry.projects.service import get_project
from steward.registry.tenants.models import Tenant

router = APIRouter(tags=["inbound"], dependencies=[Depends(clean_request)])
SIGNED = {401: {"description": "Unsigned, unknown system, bad signature or stale timestamp"}}
READERS = (Role.PLATFORM_ADMIN, Role.TENANT_ADMIN, Role.SUPERVISOR, Role.AUDITOR)


async def signed(
    request: Request, ctx: CtxDep, _system: SystemHeader = None, _signature: SignatureHeader = None
) -> Sender:
    systems = load_systems(ctx.settings.inbound_systems, ctx.settings.inbound_systems_file)
    return await verify_request(request, systems, tolerance=ctx.settings.inbound_tolerance_seconds)


SenderDep = Annotated[Sender, Depends(signed)]


@router.post(
    "/v1/inbound/projects",
    response_model=InboundResult,
    responses=SIGNED,  # type: ignore[arg-type]
    summary="The statistics system (入库/纳统, monthly investment) or the land system (交地) reports",
)
async def receive(ctx: CtxDep, sender: SenderDep, body: RegistryMessage) -> InboundResult:
    try:
        return await service.receive(ctx.db, sender=sender, raw=body.model_dump(mode="json"), clock=ctx.clock)
    except service.Refused as refused:
        raise refused.error from None


@router.post(
    "/v1/inbound/projects/bulk",
    response_model=BulkOut,
    responses=SIGNED,  # type: ignore[arg-type]
    summary="Several messages; each applied, answered as a duplicate or refused on its own",
)
async def receive_bulk(ctx: CtxDep, sender: SenderDep, body: ProjectBulk) -> BulkOut:
    return await service.receive_bulk(ctx.db, sender=sender, messages=body.messages, clock=ctx.clock)


@router.get(
    "/v1/inbound/projects/log",
    response_model=InboundLog,
    summary="Inbound messages of the systems configured in my subtree (applied and refused)",
)
async def inbound_log(
    ctx: CtxDep,
    principal: PrincipalDep,
    system: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> InboundLog:
    principal.require(*READERS)
    systems = load_systems(ctx.settings.inbound_systems, ctx.settings.inbound_systems_file)
    async with ctx.db.read() as session:
        codes = list({s.tenant for s in systems.values()})
        paths = {
            t.code: t.path
            for t in (await session.exec(select(Tenant).where(col(Tenant.code).in_(codes)))).all()
        }
        visible = [
            name
            for name, s in systems.items()
            if (system is None or name == system)
            and (principal.tenant == ALL_TENANTS or principal.tenant in ancestry_of(paths.get(s.tenant, "")))
        ]
        rows = await service.log(session, systems=visible, limit=limit)
    return InboundLog(
        items=[
            InboundLogItem(
                system=r.system,
                message_id=r.message_id,
                kind=r.kind,
                project_code=r.project_code,
                received_at=r.received_at,
                result=r.result,
                status=r.status,
                error_code=r.error_code,
                target=r.target,
            )
            for r in rows
        ]
    )


@router.get(
    "/v1/projects/{id_or_code}/statistics",
    response_model=StatisticsOut,
    summary="The project as the statistics system reports it: 入库/纳统 and investment per month",
)
async def statistics(ctx: CtxDep, principal: PrincipalDep, id_or_code: str) -> StatisticsOut:
    async with ctx.db.read() as session:
        project = await get_project(session, principal=principal, id_or_code=id_or_code)
        st, months = await apply.statistics_of(session, project_id=project.id)
    years: dict[str, Decimal] = defaultdict(Decimal)
    for m in months:
        years[m.month[:4]] += m.amount
    return StatisticsOut(
        project_id=str(project.id),
        project_code=project.code,
        status=StatisticsStatus(st.status) if st else None,
        statistics_code=st.statistics_code if st else None,
        in_library_on=st.in_library_on if st else None,
        in_statistics_on=st.in_statistics_on if st else None,
        months=[
            MonthOut(
                month=m.month,
                amount=m.amount,
                cumulative=m.cumulative,
                reported_by=m.reported_by,
                reported_at=m.reported_at,
            )
            for m in months
        ],
        year_total=dict(years),
    )
