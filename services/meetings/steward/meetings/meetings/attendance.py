"""Holding the meeting: attendance per person (present, late, on leave with reason, deputy sent,
absent, observer) and closing the record (``held``), which arms the minutes-due timer."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events import meetings as ev
from steward.kit import timers, writes
from steward.kit.auth import Principal
from steward.kit.changes import record_change
from steward.kit.errors import InvalidTransition, ValidationFailed
from steward.kit.ids import new_id
from steward.meetings.agenda.models import Topic
from steward.meetings.decisions.models import Decision
from steward.meetings.meetings import backlog, service
from steward.meetings.meetings.models import Attendance, Meeting
from steward.meetings.meetings.schemas import AttendanceBatch, AttendanceOut
from steward.meetings.series import schedule
from steward.meetings.settings import SOURCE

MINUTES_TIMER = "minutes.due"
DEFAULT_MINUTES_DAYS = 2

_ATTENDANCE: sa.Table = Attendance.__table__  # type: ignore[attr-defined]
# a person's later entry replaces the earlier one (its id and meeting stay)
_REPLACE = "ON CONFLICT ON CONSTRAINT uq_attendance_person DO UPDATE SET " + ", ".join(
    f"{c} = EXCLUDED.{c}"
    for c in (
        "tenant_path",
        "starts_at",
        "name",
        "unit_id",
        "unit_name",
        "status",
        "reason",
        "deputy_name",
        "recorded_by",
        "recorded_at",
    )
)


def to_out(a: Attendance) -> AttendanceOut:
    return AttendanceOut(
        meeting_id=a.meeting_id,
        person=a.person,
        name=a.name,
        unit_id=a.unit_id,
        unit_name=a.unit_name,
        status=a.status,  # type: ignore[arg-type]
        reason=a.reason,
        deputy_name=a.deputy_name,
        starts_at=a.starts_at,
    )


async def of_meeting(session: AsyncSession, m: Meeting) -> list[Attendance]:
    rows = await session.exec(
        select(Attendance)
        .where(Attendance.meeting_id == m.id)
        .order_by(col(Attendance.unit_name), col(Attendance.name))
    )
    return list(rows.all())


def counts(rows: list[Attendance]) -> dict[str, int]:
    c = Counter(a.status for a in rows)
    return {k: c.get(k, 0) for k in ("present", "late", "leave", "deputy", "absent", "observer")}


async def record(
    session: AsyncSession, *, principal: Principal, m: Meeting, data: AttendanceBatch, now: datetime
) -> list[Attendance]:
    """Upsert attendance (a person's later entry replaces the earlier one) until minutes are issued."""
    if m.status in ("cancelled", "skipped"):
        raise InvalidTransition(f"the meeting is {m.status}", code="meeting_closed")
    people = [i.person for i in data.items]
    if len(set(people)) != len(people):
        raise ValidationFailed("a person is listed twice", code="duplicate_person")
    for i, item in enumerate(data.items):
        if item.status == "leave" and not item.reason:
            raise ValidationFailed(
                f"items.{i}: leave needs its reason (请假事由)",
                code="reason_required",
                details=[
                    {"loc": ["items", str(i), "reason"], "message": "required for leave", "type": "missing"}
                ],
            )
        if item.status == "deputy" and not item.deputy_name:
            raise ValidationFailed(
                f"items.{i}: name the deputy sent (代为参会)",
                code="deputy_required",
                details=[{"loc": ["items", str(i), "deputy_name"], "message": "required", "type": "missing"}],
            )
    async with writes.batched(session):  # every person's upsert and the audit entry: one statement
        for item in data.items:
            await writes.insert(
                session,
                _ATTENDANCE,
                {
                    "id": new_id(),
                    "meeting_id": m.id,
                    "tenant_path": m.tenant_path,
                    "starts_at": m.starts_at,
                    "person": item.person,
                    "name": item.name,
                    "unit_id": item.unit_id,
                    "unit_name": item.unit_name,
                    "status": item.status,
                    "reason": item.reason,
                    "deputy_name": item.deputy_name,
                    "recorded_by": principal.subject,
                    "recorded_at": now,
                },
                on_conflict=_REPLACE,
                key=("attendance", item.person),
            )
        await record_change(
            session,
            actor=principal.subject,
            tenant=m.tenant_code,
            action="attendance",
            entity="meeting",
            entity_id=str(m.id),
            changes={"people": len(data.items)},
            source=SOURCE,
        )
    return await of_meeting(session, m)


async def hold(
    session: AsyncSession, *, principal: Principal, m: Meeting, held_at: datetime | None, now: datetime
) -> Meeting:
    service.ensure_open(m, "hold")
    at = held_at or now
    if at.tzinfo is None:
        raise ValidationFailed("held_at needs a time zone", code="invalid_time")
    if at > now:
        raise ValidationFailed("held_at lies in the future", code="invalid_time")
    m.status, m.held_at = "held", at
    series = await service.series_of(session, m)
    spec = service.spec_of(series)
    days = spec.minutes_due_working_days if spec else DEFAULT_MINUTES_DAYS
    due = schedule.minutes_due(schedule.calendar_of(series.calendar if series else None), at, days)
    await timers.schedule(session, kind=MINUTES_TIMER, key=str(m.id), tenant=m.tenant_code, due_at=due)
    await timers.cancel(session, kind=service.NOTICE_TIMER, key=str(m.id))
    await timers.cancel(session, kind=service.REMINDER_TIMER, key=str(m.id))
    # compiled topics were discussed; what was never compiled stays in the backlog
    for t in (
        await session.exec(select(Topic).where(Topic.meeting_id == m.id, Topic.status == "compiled"))
    ).all():
        t.status = "discussed"
    await backlog.carry_topics(session, m=m, reason="not_discussed")
    rows = await of_meeting(session, m)
    c = counts(rows)
    decisions = len((await session.exec(select(Decision.id).where(Decision.meeting_id == m.id))).all())
    await record_change(
        session,
        actor=principal.subject,
        tenant=m.tenant_code,
        action="hold",
        entity="meeting",
        entity_id=str(m.id),
        changes={"held_at": at.isoformat()},
        event=ev.MeetingHeld(
            meeting_id=str(m.id),
            series_key=m.series_key,
            kind=m.kind,  # type: ignore[arg-type]
            title=m.title,
            starts_at=m.starts_at,
            location=m.location,
            present=c["present"] + c["late"],
            on_leave=c["leave"],
            deputies=c["deputy"],
            absent=c["absent"],
            absent_subjects=sorted(a.person for a in rows if a.status in ("absent", "late")),
            decisions=decisions,
            minutes_due_at=due,
        ),
        source=SOURCE,
        subject=str(m.id),
    )
    return m
