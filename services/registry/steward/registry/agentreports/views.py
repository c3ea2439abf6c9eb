from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from steward.kit.http import DatabaseDep, PrincipalDep
from steward.kit.inputs import clean_request
from steward.registry.agentreports import service
from steward.registry.agentreports.schemas import AgentDraftOut, AgentReportIn, AgentReportOut, AgentStatusOut

router = APIRouter(
    prefix="/v1/agent-reports", tags=["agents' weekly reports"], dependencies=[Depends(clean_request)]
)

Week = Annotated[str, Query(pattern=r"^\d{4}-W\d{2}$", description="ISO week, e.g. 2026-W40")]


@router.get(
    "/draft",
    response_model=AgentDraftOut,
    summary="An agent's weekly report pre-filled from the agent's projects and the week's milestones",
)
async def draft(
    db: DatabaseDep, principal: PrincipalDep, period: Week, person_id: uuid.UUID | None = None
) -> AgentDraftOut:
    async with db.read() as session:
        return await service.draft(session, principal=principal, person_id=person_id, period_key=period)


@router.post(
    "",
    response_model=AgentReportOut,
    status_code=201,
    summary="Submit the caller's (an agent's) weekly report",
)
async def submit(db: DatabaseDep, principal: PrincipalDep, body: AgentReportIn) -> AgentReportOut:
    async with db.transaction() as session:
        return service.to_out(await service.submit(session, principal=principal, data=body))


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
