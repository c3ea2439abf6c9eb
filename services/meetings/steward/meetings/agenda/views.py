"""REST API of the agenda: topics (submit, sign off, mark urgent, withdraw, list the backlog) and
the compiled agenda of a meeting (compile, read)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.auth import Principal
from steward.kit.context import BearerDep
from steward.kit.errors import NotFound, ValidationFailed
from steward.kit.http import PrincipalDep
from steward.kit.inputs import TENANT_PATTERN, clean_request
from steward.meetings.access import base_path, ensure_organizer, ensure_submitter
from steward.meetings.agenda import compile as compiler
from steward.meetings.agenda import service
from steward.meetings.agenda.models import Agenda
from steward.meetings.agenda.schemas import (
    AgendaOut,
    SignIn,
    TopicCreate,
    TopicList,
    TopicOut,
    TopicStatus,
    UrgentIn,
    WithdrawIn,
)
from steward.meetings.context import CtxDep
from steward.meetings.meetings import service as meetings
from steward.meetings.meetings.models import OPEN_STATUSES, Meeting
from steward.meetings.series import service as series_service

router = APIRouter(prefix="/v1", tags=["agenda"], dependencies=[Depends(clean_request)])
TenantQuery = Annotated[str | None, Query(pattern=TENANT_PATTERN, description="a tenant code")]


async def _target(session: AsyncSession, principal: Principal, body: TopicCreate) -> Meeting:
    if body.meeting_id is not None:
        return await meetings.get(session, principal=principal, meeting_id=body.meeting_id, lock=True)
    if not (body.tenant and body.series_key):
        raise ValidationFailed("give meeting_id, or tenant and series_key", code="meeting_required")
    s = await series_service.by_key(session, tenant=body.tenant, key=body.series_key)
    if s is None:
        raise NotFound("series not found")
    m = (
        await session.exec(
            select(Meeting)
            .where(Meeting.series_id == s.id, col(Meeting.status).in_(OPEN_STATUSES))
            .order_by(col(Meeting.starts_at))
            .limit(1)
            .with_for_update()
        )
    ).first()
    if m is None:
        raise NotFound("the series has no upcoming meeting")
    return await meetings.get(session, principal=principal, meeting_id=m.id, lock=True)


@router.post("/topics", response_model=TopicOut, status_code=201, summary="Submit a topic (议题申报)")
async def submit(ctx: CtxDep, principal: PrincipalDep, token: BearerDep, body: TopicCreate) -> TopicOut:
    ensure_submitter(principal)
    project_name = None
    if body.project_id:
        project = await ctx.registry.project(body.project_id, token=token)
        body = body.model_copy(update={"project_id": project.id})
        project_name = project.name
    for key in body.matter_ids:  # linked matters must exist and be visible to the submitter
        body.matter_ids[body.matter_ids.index(key)] = (await ctx.issues.matter(key, token=token)).id
    async with ctx.db.transaction() as session:
        m = await _target(session, principal, body)
        t = await service.submit(
            session, principal=principal, m=m, data=body, project_name=project_name, now=ctx.clock()
        )
        return await service.submitted_out(session, t)


@router.get("/topics", response_model=TopicList, summary="Topics (backlog=true: not yet discussed)")
async def list_topics(
    ctx: CtxDep,
    principal: PrincipalDep,
    tenant: TenantQuery = None,
    meeting_id: uuid.UUID | None = None,
    series_id: uuid.UUID | None = None,
    status: TopicStatus | None = None,
    backlog: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> TopicList:
    path = await base_path(ctx, principal, tenant)
    async with ctx.db.read() as session:
        rows, nxt = await service.list_topics(
            session,
            base_path=path,
            meeting_id=meeting_id,
            series_id=series_id,
            status=status,
            backlog=backlog,
            limit=limit,
            cursor=cursor,
        )
        signed = await service.signoffs_of(session, [t.id for t in rows])
        required: dict[uuid.UUID, list[str]] = {}
        for t in rows:  # one lookup per meeting, not per topic
            if t.meeting_id not in required:
                required[t.meeting_id] = await service.required_for(session, t)
        items = [service.to_out(t, signed[t.id], required[t.meeting_id]) for t in rows]
        return TopicList(items=items, next_cursor=nxt)


@router.get("/topics/{topic_id}", response_model=TopicOut, summary="One topic with its sign-offs")
async def get_topic(ctx: CtxDep, principal: PrincipalDep, topic_id: str) -> TopicOut:
    async with ctx.db.read() as session:
        return await service.out(session, await service.get(session, principal=principal, topic_id=topic_id))


@router.post("/topics/{topic_id}/signoffs", response_model=TopicOut, summary="Sign a topic off (签字)")
async def sign(ctx: CtxDep, principal: PrincipalDep, topic_id: str, body: SignIn) -> TopicOut:
    async with ctx.db.transaction() as session:
        t = await service.get(session, principal=principal, topic_id=topic_id, lock=True)
        t = await service.sign(session, principal=principal, t=t, data=body, now=ctx.clock())
        return await service.out(session, t)


@router.post("/topics/{topic_id}/urgent", response_model=TopicOut, summary="Keep a late topic on its meeting")
async def urgent(ctx: CtxDep, principal: PrincipalDep, topic_id: str, body: UrgentIn) -> TopicOut:
    async with ctx.db.transaction() as session:
        t = await service.get(session, principal=principal, topic_id=topic_id, lock=True)
        ensure_organizer(principal)
        t = await service.mark_urgent(session, principal=principal, t=t, data=body, now=ctx.clock())
        return await service.out(session, t)


@router.post("/topics/{topic_id}/withdraw", response_model=TopicOut, summary="Withdraw a topic")
async def withdraw(ctx: CtxDep, principal: PrincipalDep, topic_id: str, body: WithdrawIn) -> TopicOut:
    async with ctx.db.transaction() as session:
        t = await service.get(session, principal=principal, topic_id=topic_id, lock=True)
        t = await service.withdraw(session, principal=principal, t=t, data=body, now=ctx.clock())
        return await service.out(session, t)


def _agenda_out(row: Agenda) -> AgendaOut:
    return AgendaOut(
        meeting_id=row.meeting_id,
        version=row.version,
        compiled_at=row.compiled_at,
        compiled_by=row.compiled_by,
        document=row.document,
    )


@router.post(
    "/meetings/{meeting_id}/agenda/compile", response_model=AgendaOut, summary="Compile the agenda (汇总)"
)
async def compile_agenda(ctx: CtxDep, principal: PrincipalDep, meeting_id: str) -> AgendaOut:
    async with ctx.db.read() as session:
        m = await meetings.get(session, principal=principal, meeting_id=meeting_id)
        ensure_organizer(principal)
        meetings.ensure_open(m, "compile")
        sup = await compiler.gather(session, m)
    await compiler.fetch_status(ctx.issues, sup)
    async with ctx.db.transaction() as session:
        m = await meetings.get(session, principal=principal, meeting_id=meeting_id, lock=True)
        row, _ = await compiler.compile_agenda(session, principal=principal, m=m, sup=sup, now=ctx.clock())
        return _agenda_out(row)


@router.get("/meetings/{meeting_id}/agenda", response_model=AgendaOut, summary="The compiled agenda")
async def get_agenda(ctx: CtxDep, principal: PrincipalDep, meeting_id: str) -> AgendaOut:
    async with ctx.db.read() as session:
        m = await meetings.get(session, principal=principal, meeting_id=meeting_id)
        row = await session.get(Agenda, m.id)
        if row is None:
            raise NotFound("the agenda has not been compiled yet", code="not_compiled")
        return _agenda_out(row)
