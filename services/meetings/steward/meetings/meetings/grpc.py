"""gRPC handlers of the meetings domain: GetMeeting, ListMeetings, GetAttendance."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.api.meetings.v1 import meetings_pb2 as pb
from steward.kit.auth import Principal
from steward.kit.errors import ValidationFailed
from steward.kit.inputs import clean
from steward.kit.paging import scoped
from steward.meetings.access import base_path
from steward.meetings.agenda.models import Topic
from steward.meetings.context import MeetingsContext
from steward.meetings.decisions.models import Decision
from steward.meetings.meetings import service
from steward.meetings.meetings.models import Attendance, Meeting
from steward.meetings.minutes.models import Minutes
from steward.meetings.series import schedule

MAX_PERIOD_DAYS = 2 * 366


def ts(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    t = Timestamp()
    t.FromDatetime(value)
    return t


def _date(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValidationFailed(f"{name}: not an ISO date", code="invalid_date") from exc


async def _to_pb(session: AsyncSession, m: Meeting) -> pb.Meeting:
    topics = (
        await session.execute(
            sa.select(sa.func.count()).select_from(Topic).where(col(Topic.meeting_id) == m.id)
        )
    ).scalar_one()
    decisions = (
        await session.execute(
            sa.select(sa.func.count()).select_from(Decision).where(col(Decision.meeting_id) == m.id)
        )
    ).scalar_one()
    minutes = await session.get(Minutes, m.id)
    return pb.Meeting(
        id=str(m.id),
        tenant=m.tenant_code,
        series_key=m.series_key or "",
        kind=m.kind,
        title=m.title,
        status=m.status,
        starts_at=ts(m.starts_at),
        location=m.location,
        regular_date=m.regular_date.isoformat() if m.regular_date else "",
        holiday_note=m.holiday_note or "",
        agenda_deadline_at=ts(m.agenda_deadline_at),
        chair=m.chair_name or "",
        topics=int(topics),
        decisions=int(decisions),
        minutes_status=minutes.status if minutes else "none",
        reason=m.reason or "",
    )


async def get_meeting(
    ctx: MeetingsContext, principal: Principal, request: pb.GetMeetingRequest
) -> pb.Meeting:
    if not request.id:
        raise ValidationFailed("id is required")
    clean(id=request.id)
    async with ctx.db.read() as session:
        return await _to_pb(session, await service.get(session, principal=principal, meeting_id=request.id))


async def list_meetings(
    ctx: MeetingsContext, principal: Principal, request: pb.ListMeetingsRequest
) -> pb.ListMeetingsResponse:
    clean(
        tenant=request.tenant,
        series_key=request.series_key,
        status=request.status,
        page_token=request.page_token,
    )
    size = request.page_size or 50
    if not 1 <= size <= 200:
        raise ValidationFailed("page_size must be between 1 and 200")
    path = await base_path(ctx, principal, request.tenant or None)
    async with ctx.db.read() as session:
        rows, nxt = await service.list_meetings(
            session,
            base_path=path,
            series_key=request.series_key or None,
            status=request.status or None,
            from_date=_date(request.from_date, "from_date"),
            to_date=_date(request.to_date, "to_date"),
            limit=size,
            cursor=request.page_token or None,
        )
        return pb.ListMeetingsResponse(
            meetings=[await _to_pb(session, m) for m in rows], next_page_token=nxt or ""
        )


async def get_attendance(
    ctx: MeetingsContext, principal: Principal, request: pb.GetAttendanceRequest
) -> pb.AttendanceResponse:
    """A person's or a unit's attendance over a period (scoring: 未按时参加或缺席联席会议)."""
    clean(tenant=request.tenant, person=request.person, unit_id=request.unit_id)
    if bool(request.person) == bool(request.unit_id):
        raise ValidationFailed("give exactly one of person and unit_id", code="person_or_unit")
    start, end = _date(request.from_date, "from_date"), _date(request.to_date, "to_date")
    if start is None or end is None or end < start or (end - start).days > MAX_PERIOD_DAYS:
        raise ValidationFailed("from_date and to_date: a period of at most two years", code="invalid_period")
    path = await base_path(ctx, principal, request.tenant or None)
    stmt = scoped(select(Attendance, Meeting), Attendance.tenant_path, path).where(
        col(Attendance.meeting_id) == col(Meeting.id),
        col(Attendance.starts_at) >= schedule.local(start, time(0)),
        col(Attendance.starts_at) < schedule.local(end + timedelta(days=1), time(0)),
        Meeting.status == "held",
    )
    stmt = (
        stmt.where(Attendance.person == request.person)
        if request.person
        else stmt.where(Attendance.unit_id == request.unit_id)
    )
    out = pb.AttendanceResponse()
    tally: Counter[str] = Counter()
    async with ctx.db.read() as session:
        rows = (await session.exec(stmt.order_by(col(Attendance.starts_at)).limit(5000))).all()
    for a, m in rows:
        tally[a.status] += 1
        out.records.append(
            pb.AttendanceRecord(
                meeting_id=str(m.id),
                meeting_title=m.title,
                starts_at=ts(m.starts_at),
                person=a.person,
                name=a.name,
                unit_id=a.unit_id or "",
                unit_name=a.unit_name or "",
                status=a.status,
                reason=a.reason or "",
                deputy_name=a.deputy_name or "",
            )
        )
    for k in ("present", "late", "leave", "deputy", "absent", "observer"):
        setattr(out, k, tally.get(k, 0))
    return out
