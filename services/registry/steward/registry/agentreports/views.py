from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from steward.kit.context import BearerDep
from steward.kit.http import DatabaseDep, PrincipalDep
from steward.kit.inputs import clean_request
from steward.registry.agentreports import matters, service
from steward.registry.agentreports.schemas import AgentDraftOut, AgentReportIn, AgentReportOut, AgentStatusOut
from steward.registry.context import CtxDep

router = APIRouter(
    prefix="/v1/agent-reports", tags=["agents' weekly reports"], dependencies=[Depends(clean_request)]
)

Week = Annotated[str, Query(pattern=r"^\d{4}-W\d{2}$", description="ISO week, e.g. 2026-W40")]


@router.get(
    "/draft",
    response_model=AgentDraftOut,
    summary="An agent's weekly report pre-filled from the agent's projects, the week's milestones and "
    "the agent's matters of the week (issues service)",
)
async def draft(
    ctx: CtxDep, principal: PrincipalDep, token: BearerDep, period: Week, person_id: uuid.UUID | None = None
) -> AgentDraftOut:
    async with ctx.db.read() as session:
        out, week = await service.draft(session, principal=principal, person_id=person_id, period_key=period)
    out.matters, out.matters_status, out.matters_truncated = await matters.of_week(
        ctx.issues, subject=week.subject, name=week.name, start=week.start, end=week.end, token=token
    )
    return out


@router.post(
    "",
    response_model=AgentReportOut,
    status_code=201,
    summary="Submit the caller's (an agent's) weekly report",
)
async def submit(
    ctx: CtxDep, principal: PrincipalDep, token: BearerDep, body: AgentReportIn
) -> AgentReportOut:
    async with ctx.db.read() as session:
        week = await service.my_week(session, principal=principal, period_key=body.period)
    found, _status, _truncated = await matters.of_week(
        ctx.issues, subject=week.subject, name=week.name, start=week.start, end=week.end, token=token
    )
    async with ctx.db.transaction() as session:
        report = await service.submit(session, principal=principal, data=body, matters=found)
        return service.to_out(report)


@router.get(
    "/status",
    response_model=AgentStatusOut,
    summary="Per agent of a tenant: on time, late, missing or pending for a week",
)
async def status(
    db: DatabaseDep, principal: PrincipalDep, period: Week, tenant: str | None = None
) -> AgentStatusOut:
    async with db.read() as session:
        return await service.status(session, principal=principal, tenant=tenant, period_key=period)
