"""Meetings: generated from a series or called ad hoc, rescheduled or cancelled with a reason; the
notice and agenda-reminder timers armed with each. Service functions never commit."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events import meetings as ev
from steward.kit import timers
from steward.kit.auth import Principal
from steward.kit.calendar import WorkingCalendar
from steward.kit.changes import record_change
from steward.kit.errors import InvalidTransition, NotFound, ValidationFailed
from steward.kit.paging import keyset_page, scoped
from steward.meetings.access import ensure_visible, subjects
from steward.meetings.meetings import backlog
from steward.meetings.meetings.models import OPEN_STATUSES, Meeting
from steward.meetings.meetings.schemas import (
    AdHocCreate,
    CancelIn,
    MeetingOut,
    Participant,
    RescheduleIn,
)
from steward.meetings.series import schedule
from steward.meetings.series.models import Series
from steward.meetings.settings import SOURCE
from steward.rules import MeetingSeries

NOTICE_TIMER = "meeting.notice"
REMINDER_TIMER = "agenda.reminder"
MAX_AHEAD_DAYS = 366


def to_out(m: Meeting) -> MeetingOut:
    return MeetingOut(
        id=m.id,
        tenant=m.tenant_code,
        series_id=m.series_id,
        series_key=m.series_key,
        kind=m.kind,  # type: ignore[arg-type]
        seq=m.seq,
        title=m.title,
        status=m.status,  # type: ignore[arg-type]
        regular_date=m.regular_date,
        starts_at=m.starts_at,
        location=m.location,
        holiday_note=m.holiday_note,
        reason=m.reason,
        agenda_deadline_at=m.agenda_deadline_at,
        compile_due=m.compile_due,
        chair_subject=m.chair_subject,
        chair_name=m.chair_name,
        participants=[Participant.model_validate(p) for p in m.participants],
        notice_sent_at=m.notice_sent_at,
        compiled_at=m.compiled_at,
        held_at=m.held_at,
    )


def parse_id(value: str | uuid.UUID, what: str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise NotFound(f"{what} not found") from exc


async def get(
    session: AsyncSession, *, principal: Principal, meeting_id: str | uuid.UUID, lock: bool = False
) -> Meeting:
    stmt = select(Meeting).where(Meeting.id == parse_id(meeting_id, "meeting"))
    if lock:
        stmt = stmt.with_for_update()
    m = (await session.exec(stmt)).first()
    if m is None:
        raise NotFound("meeting not found")
    ensure_visible(principal, m.tenant_path, "meeting")
    return m


async def list_meetings(
    session: AsyncSession,
    *,
    base_path: str | None,
    series_key: str | None = None,
    status: str | None = None,
    from_date: date | None = None,
    to_date: date | None = None,
    limit: int = 50,
    cursor: str | None = None,
    descending: bool = True,
) -> tuple[list[Meeting], str | None]:
    stmt = scoped(select(Meeting), Meeting.tenant_path, base_path)
    if series_key:
        stmt = stmt.where(Meeting.series_key == series_key)
    if status:
        stmt = stmt.where(Meeting.status == status)
    if from_date:
        stmt = stmt.where(col(Meeting.starts_at) >= schedule.local(from_date, datetime.min.time()))
    if to_date:
        stmt = stmt.where(
            col(Meeting.starts_at) < schedule.local(to_date + timedelta(days=1), datetime.min.time())
        )
    return await keyset_page(
        session,
        stmt,
        order=(Meeting.starts_at, Meeting.id),
        cursor=cursor,
        limit=limit,
        descending=descending,
    )


def spec_of(series: Series | None) -> MeetingSeries | None:
    return MeetingSeries.model_validate(series.spec) if series is not None else None


async def series_of(session: AsyncSession, m: Meeting) -> Series | None:
    if m.series_id is None:
        return None
    return await session.get(Series, m.series_id)


async def arm_timers(
    session: AsyncSession, m: Meeting, spec: MeetingSeries | None, cal: WorkingCalendar, now: datetime
) -> None:
    """会议通知 ``notice_hours_before`` the start; 议题申报提醒 before the agenda deadline."""
    hours = spec.notice_hours_before if spec is not None else 24
    notice = max(now, m.starts_at - timedelta(hours=hours))
    await timers.schedule(session, kind=NOTICE_TIMER, key=str(m.id), tenant=m.tenant_code, due_at=notice)
    if spec is not None and m.agenda_deadline_at is not None and m.agenda_deadline_at > now:
        at = max(now, schedule.reminder_at(spec, cal, m.agenda_deadline_at))
        await timers.schedule(session, kind=REMINDER_TIMER, key=str(m.id), tenant=m.tenant_code, due_at=at)


def _title(series: Series, seq: int, day: date) -> str:
    return f"{series.name}（{day.year}年第{seq}次）"


async def create_regular(
    session: AsyncSession, *, series: Series, slot: schedule.Slot, now: datetime
) -> Meeting:
    """The series' meeting of one regular date (scheduled, moved for a holiday, or skipped)."""
    spec = MeetingSeries.model_validate(series.spec)
    cal = schedule.calendar_of(series.calendar)
    if slot.day is None:
        seq, status = 0, "skipped"
        title = f"{series.name}（{slot.regular_date.isoformat()}，节假日不召开）"
        day = slot.regular_date
    else:
        series.meetings_count += 1
        seq, status, day = series.meetings_count, "scheduled", slot.day
        title = _title(series, seq, day)
    m = Meeting(
        series_id=series.id,
        series_key=series.key,
        tenant_code=series.tenant_code,
        tenant_path=series.tenant_path,
        kind="regular",
        seq=seq,
        title=title,
        status=status,
        regular_date=slot.regular_date,
        starts_at=schedule.local(day, spec.time),
        location=series.location,
        holiday_note=slot.holiday_note,
        agenda_deadline_at=schedule.agenda_deadline(spec, cal, slot.regular_date),
        compile_due=schedule.compile_due(spec, cal, slot.regular_date),
        chair_subject=series.chair_subject,
        chair_name=series.chair_name,
        participants=list(series.participants),
        created_at=now,
    )
    session.add(m)
    await session.flush()
    if status == "skipped":
        event: Any = ev.MeetingSkipped(
            meeting_id=str(m.id),
            series_key=series.key,
            title=m.title,
            starts_at=m.starts_at,
            regular_date=slot.regular_date,
            holiday_note=slot.holiday_note or "",
        )
    else:
        await arm_timers(session, m, spec, cal, now)
        event = ev.MeetingScheduled(
            meeting_id=str(m.id),
            series_key=series.key,
            title=m.title,
            starts_at=m.starts_at,
            location=m.location,
            regular_date=slot.regular_date,
            holiday_note=slot.holiday_note,
            agenda_deadline_at=m.agenda_deadline_at,
            attendee_subjects=subjects(m.participants),
        )
    await record_change(
        session,
        actor="system",
        tenant=m.tenant_code,
        action=status,
        entity="meeting",
        entity_id=str(m.id),
        changes={"regular_date": slot.regular_date.isoformat(), "holiday_note": slot.holiday_note},
        event=event,
        source=SOURCE,
        subject=str(m.id),
    )
    return m


def _check_start(starts_at: datetime, now: datetime) -> None:
    if starts_at.tzinfo is None:
        raise ValidationFailed("starts_at needs a time zone (e.g. +08:00)", code="invalid_time")
    if starts_at < now - timedelta(days=1) or starts_at > now + timedelta(days=MAX_AHEAD_DAYS):
        raise ValidationFailed("starts_at must lie between yesterday and a year ahead", code="invalid_time")


async def create_ad_hoc(
    session: AsyncSession,
    *,
    principal: Principal,
    data: AdHocCreate,
    path: str,
    series: Series | None,
    now: datetime,
) -> Meeting:
    _check_start(data.starts_at, now)
    spec = spec_of(series)
    if spec is not None and not spec.ad_hoc_allowed:
        raise InvalidTransition("the series' rules allow no ad-hoc meetings", code="ad_hoc_not_allowed")
    participants = [p.model_dump() for p in data.participants] or (
        list(series.participants) if series else []
    )
    m = Meeting(
        series_id=series.id if series else None,
        series_key=series.key if series else None,
        tenant_code=data.tenant,
        tenant_path=path,
        kind="ad_hoc",
        title=data.title,
        status="scheduled",
        starts_at=data.starts_at.astimezone(UTC),
        location=data.location or (series.location if series else ""),
        reason=data.reason,
        chair_subject=data.chair_subject or (series.chair_subject if series else None),
        chair_name=data.chair_name or (series.chair_name if series else None),
        participants=participants,
        created_by=principal.subject,
        created_at=now,
    )
    session.add(m)
    await session.flush()
    cal = schedule.calendar_of(series.calendar if series else None)
    await arm_timers(session, m, spec, cal, now)
    await record_change(
        session,
        actor=principal.subject,
        tenant=m.tenant_code,
        action="ad_hoc",
        entity="meeting",
        entity_id=str(m.id),
        changes={"reason": data.reason},
        event=ev.MeetingScheduled(
            meeting_id=str(m.id),
            series_key=m.series_key,
            kind="ad_hoc",
            title=m.title,
            starts_at=m.starts_at,
            location=m.location,
            reason=data.reason,
            attendee_subjects=subjects(m.participants),
        ),
        source=SOURCE,
        subject=str(m.id),
    )
    return m


def ensure_open(m: Meeting, action: str) -> None:
    if m.status not in OPEN_STATUSES:
        raise InvalidTransition(f"cannot {action} a meeting that is {m.status}", code="meeting_closed")


async def reschedule(
    session: AsyncSession, *, principal: Principal, m: Meeting, data: RescheduleIn, now: datetime
) -> Meeting:
    ensure_open(m, "reschedule")
    _check_start(data.starts_at, now)
    previous = m.starts_at
    m.starts_at = data.starts_at.astimezone(UTC)
    m.reason = data.reason
    if data.location is not None:
        m.location = data.location
    m.notice_sent_at = None
    series = await series_of(session, m)
    await arm_timers(
        session, m, spec_of(series), schedule.calendar_of(series.calendar if series else None), now
    )
    await record_change(
        session,
        actor=principal.subject,
        tenant=m.tenant_code,
        action="reschedule",
        entity="meeting",
        entity_id=str(m.id),
        changes={"starts_at": [previous.isoformat(), data.starts_at.isoformat()], "reason": data.reason},
        event=ev.MeetingRescheduled(
            meeting_id=str(m.id),
            series_key=m.series_key,
            kind=m.kind,  # type: ignore[arg-type]
            title=m.title,
            starts_at=m.starts_at,
            location=m.location,
            previous_starts_at=previous,
            reason=data.reason,
            attendee_subjects=subjects(m.participants),
        ),
        source=SOURCE,
        subject=str(m.id),
    )
    return m


async def cancel(
    session: AsyncSession, *, principal: Principal, m: Meeting, data: CancelIn, now: datetime
) -> Meeting:
    ensure_open(m, "cancel")
    m.status = "cancelled"
    m.reason = data.reason
    await timers.cancel(session, kind=NOTICE_TIMER, key=str(m.id))
    await timers.cancel(session, kind=REMINDER_TIMER, key=str(m.id))
    carried = await backlog.carry_topics(session, m=m, reason="cancelled")
    await record_change(
        session,
        actor=principal.subject,
        tenant=m.tenant_code,
        action="cancel",
        entity="meeting",
        entity_id=str(m.id),
        changes={"reason": data.reason, "topics_carried": carried},
        event=ev.MeetingCancelled(
            meeting_id=str(m.id),
            series_key=m.series_key,
            kind=m.kind,  # type: ignore[arg-type]
            title=m.title,
            starts_at=m.starts_at,
            location=m.location,
            reason=data.reason,
            topics_carried=carried,
            attendee_subjects=subjects(m.participants),
        ),
        source=SOURCE,
        subject=str(m.id),
    )
    return m
