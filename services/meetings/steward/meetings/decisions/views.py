"""REST API of statements and decisions of a meeting."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from steward.kit.http import PrincipalDep
from steward.kit.inputs import clean_request
from steward.meetings.access import ensure_organizer
from steward.meetings.context import CtxDep
from steward.meetings.decisions import service
from steward.meetings.decisions.schemas import (
    DecisionCreate,
    DecisionList,
    DecisionOut,
    StatementCreate,
    StatementList,
    StatementOut,
)
from steward.meetings.meetings import service as meetings

router = APIRouter(prefix="/v1/meetings", tags=["decisions"], dependencies=[Depends(clean_request)])


@router.post(
    "/{meeting_id}/decisions",
    response_model=DecisionOut,
    status_code=201,
    summary="Record a decision (unit, person, deadline); it becomes a tracked matter",
)
async def record_decision(
    ctx: CtxDep, principal: PrincipalDep, meeting_id: str, body: DecisionCreate
) -> DecisionOut:
    async with ctx.db.transaction() as session:
        m = await meetings.get(session, principal=principal, meeting_id=meeting_id, lock=True)
        ensure_organizer(principal)
        return service.to_out(
            await service.record(session, principal=principal, m=m, data=body, now=ctx.clock())
        )


@router.get("/{meeting_id}/decisions", response_model=DecisionList, summary="Decisions of a meeting")
async def list_decisions(ctx: CtxDep, principal: PrincipalDep, meeting_id: str) -> DecisionList:
    async with ctx.db.read() as session:
        m = await meetings.get(session, principal=principal, meeting_id=meeting_id)
        return DecisionList(items=[service.to_out(d) for d in await service.of_meeting(session, m)])


@router.post(
    "/{meeting_id}/statements",
    response_model=StatementOut,
    status_code=201,
    summary="Record a report or a department's statement (表态发言)",
)
async def add_statement(
    ctx: CtxDep, principal: PrincipalDep, meeting_id: str, body: StatementCreate
) -> StatementOut:
    async with ctx.db.transaction() as session:
        m = await meetings.get(session, principal=principal, meeting_id=meeting_id, lock=True)
        ensure_organizer(principal)
        return service.statement_out(
            await service.add_statement(session, principal=principal, m=m, data=body, now=ctx.clock())
        )


@router.get("/{meeting_id}/statements", response_model=StatementList, summary="Statements of a meeting")
async def list_statements(ctx: CtxDep, principal: PrincipalDep, meeting_id: str) -> StatementList:
    async with ctx.db.read() as session:
        m = await meetings.get(session, principal=principal, meeting_id=meeting_id)
        return StatementList(
            items=[service.statement_out(s) for s in await service.statements_of(session, m)]
        )
