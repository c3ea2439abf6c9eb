"""REST API of meetings: list and read, ad-hoc meetings, reschedule, cancel, attendance, hold."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from steward.kit.errors import NotFound
from steward.kit.http import PrincipalDep
from steward.kit.inputs import TENANT_PATTERN, clean_request
from steward.meetings.access import base_path, ensure_organizer, tenant_path
from steward.meetings.context import CtxDep
from steward.meetings.meetings import attendance, service
from steward.meetings.meetings.schemas import (
    AdHocCreate,
    AttendanceBatch,
    AttendanceList,
    CancelIn,
    HoldIn,
    MeetingList,
    MeetingOut,
    MeetingStatus,
    RescheduleIn,
)
from steward.meetings.series import service as series_service

router = APIRouter(prefix="/v1/meetings", tags=["meetings"], dependencies=[Depends(clean_request)])
TenantQuery = Annotated[str | None, Query(pattern=TENANT_PATTERN, description="a tenant code")]


@router.get(
    "", response_model=MeetingList, summary="Meetings in a tenant subtree, latest first (keyset paging)"
)
async def list_meetings(
    ctx: CtxDep,
    principal: PrincipalDep,
    tenant: TenantQuery = None,
    series_key: Annotated[str | None, Query(max_length=64)] = None,
    status: MeetingStatus | None = None,
    from_date: date | None = None,
    to_date: date | None = None,
    upcoming_first: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> MeetingList:
    path = await base_path(ctx, principal, tenant)
    async with ctx.db.read() as session:
        rows, nxt = await service.list_meetings(
            session,
            base_path=path,
            series_key=series_key,
            status=status,
            from_date=from_date,
            to_date=to_date,
            limit=limit,
            cursor=cursor,
            descending=not upcoming_first,
        )
        return MeetingList(items=[service.to_out(m) for m in rows], next_cursor=nxt)


@router.post("", response_model=MeetingOut, status_code=201, summary="Call an ad-hoc meeting (临时协调会议)")
async def create_ad_hoc(ctx: CtxDep, principal: PrincipalDep, body: AdHocCreate) -> MeetingOut:
    ensure_organizer(principal)
    path = await tenant_path(ctx, principal, body.tenant, write=True)
    async with ctx.db.transaction() as session:
        series = None
        if body.series_key:
            series = await series_service.by_key(session, tenant=body.tenant, key=body.series_key)
            if series is None:
                raise NotFound("series not found")
        m = await service.create_ad_hoc(
            session, principal=principal, data=body, path=path, series=series, now=ctx.clock()
        )
        return service.to_out(m)


@router.get("/{meeting_id}", response_model=MeetingOut, summary="One meeting")
async def get_meeting(ctx: CtxDep, principal: PrincipalDep, meeting_id: str) -> MeetingOut:
    async with ctx.db.read() as session:
        return service.to_out(await service.get(session, principal=principal, meeting_id=meeting_id))


@router.post(
    "/{meeting_id}/reschedule", response_model=MeetingOut, summary="Move the meeting (with the reason)"
)
async def reschedule(ctx: CtxDep, principal: PrincipalDep, meeting_id: str, body: RescheduleIn) -> MeetingOut:
    async with ctx.db.transaction() as session:
        m = await service.get(session, principal=principal, meeting_id=meeting_id, lock=True)
        ensure_organizer(principal)
        return service.to_out(
            await service.reschedule(session, principal=principal, m=m, data=body, now=ctx.clock())
        )


@router.post(
    "/{meeting_id}/cancel", response_model=MeetingOut, summary="Cancel (topics go to the next meeting)"
)
async def cancel(ctx: CtxDep, principal: PrincipalDep, meeting_id: str, body: CancelIn) -> MeetingOut:
    async with ctx.db.transaction() as session:
        m = await service.get(session, principal=principal, meeting_id=meeting_id, lock=True)
        ensure_organizer(principal)
        return service.to_out(
            await service.cancel(session, principal=principal, m=m, data=body, now=ctx.clock())
        )


@router.put("/{meeting_id}/attendance", response_model=AttendanceList, summary="Record attendance (出席情况)")
async def record_attendance(
    ctx: CtxDep, principal: PrincipalDep, meeting_id: str, body: AttendanceBatch
) -> AttendanceList:
    async with ctx.db.transaction() as session:
        m = await service.get(session, principal=principal, meeting_id=meeting_id, lock=True)
        ensure_organizer(principal)
        rows = await attendance.record(session, principal=principal, m=m, data=body, now=ctx.clock())
        return AttendanceList(items=[attendance.to_out(a) for a in rows], counts=attendance.counts(rows))


@router.get("/{meeting_id}/attendance", response_model=AttendanceList, summary="Attendance of a meeting")
async def get_attendance(ctx: CtxDep, principal: PrincipalDep, meeting_id: str) -> AttendanceList:
    async with ctx.db.read() as session:
        m = await service.get(session, principal=principal, meeting_id=meeting_id)
        rows = await attendance.of_meeting(session, m)
        return AttendanceList(items=[attendance.to_out(a) for a in rows], counts=attendance.counts(rows))


@router.post(
    "/{meeting_id}/hold", response_model=MeetingOut, summary="The meeting took place: close its record"
)
async def hold(ctx: CtxDep, principal: PrincipalDep, meeting_id: str, body: HoldIn) -> MeetingOut:
    async with ctx.db.transaction() as session:
        m = await service.get(session, principal=principal, meeting_id=meeting_id, lock=True)
        ensure_organizer(principal)
        return service.to_out(
            await attendance.hold(session, principal=principal, m=m, held_at=body.held_at, now=ctx.clock())
        )
