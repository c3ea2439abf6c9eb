"""Minutes (会议纪要): drafted by the organiser from the record, signed off by the chair, then issued
to the recipients, who acknowledge receipt (签收); due within ``minutes_due_working_days`` of the
meeting (the ``minutes.due`` timer reports them overdue). Service functions never commit."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events import meetings as ev
from steward.kit import timers
from steward.kit.auth import Principal, Role
from steward.kit.changes import record_change
from steward.kit.errors import Forbidden, InvalidTransition, NotFound
from steward.meetings.access import subjects
from steward.meetings.meetings import attendance
from steward.meetings.meetings.models import Meeting
from steward.meetings.metrics import MINUTES_LATENESS
from steward.meetings.minutes.models import Acknowledgement, Minutes
from steward.meetings.minutes.schemas import MinutesDraft, MinutesOut, Recipient
from steward.meetings.series import schedule
from steward.meetings.settings import SOURCE


def number_of(m: Meeting) -> str:
    year = schedule.local_date(m.starts_at).year
    return f"〔{year}〕第{m.seq}期" if m.kind == "regular" else f"〔{year}〕临时{str(m.id)[-6:]}号"


async def acks_of(session: AsyncSession, meeting_id: object) -> dict[str, datetime]:
    rows = await session.exec(select(Acknowledgement).where(Acknowledgement.meeting_id == meeting_id))
    return {a.recipient: a.acknowledged_at for a in rows.all()}


def to_out(mi: Minutes, acks: dict[str, datetime]) -> MinutesOut:
    recipients = [
        Recipient(
            subject=r.get("subject"),
            name=str(r.get("name") or r.get("subject") or ""),
            unit_name=r.get("unit_name"),
            acknowledged_at=acks.get(str(r.get("subject") or "")),
        )
        for r in mi.recipients
    ]
    return MinutesOut(
        meeting_id=mi.meeting_id,
        number=mi.number,
        title=mi.title,
        summary=mi.summary,
        status=mi.status,  # type: ignore[arg-type]
        due_at=mi.due_at,
        overdue=mi.overdue,
        drafted_by=mi.drafted_by,
        drafted_at=mi.drafted_at,
        signed_by=mi.signed_by,
        signed_at=mi.signed_at,
        issued_by=mi.issued_by,
        issued_at=mi.issued_at,
        recipients=recipients,
        outstanding=sum(1 for r in recipients if r.subject and r.acknowledged_at is None)
        if mi.status == "issued"
        else 0,
    )


async def get(session: AsyncSession, m: Meeting, *, lock: bool = False) -> Minutes:
    mi = await session.get(Minutes, m.id, with_for_update=lock)
    if mi is None:
        raise NotFound("the minutes have not been drafted yet", code="no_minutes")
    return mi


async def _due(session: AsyncSession, m: Meeting) -> datetime:
    timer = (
        await session.exec(
            select(timers.DueTimer).where(
                timers.DueTimer.kind == "minutes.due", timers.DueTimer.key == str(m.id)
            )
        )
    ).first()
    if timer is not None:
        return timer.due_at
    return schedule.minutes_due(schedule.calendar_of(None), m.held_at or m.starts_at, 2)


async def draft(
    session: AsyncSession, *, principal: Principal, m: Meeting, data: MinutesDraft, now: datetime
) -> Minutes:
    if m.status != "held":
        raise InvalidTransition("minutes are drafted after the meeting is held", code="meeting_not_held")
    mi = await session.get(Minutes, m.id, with_for_update=True)
    if mi is not None and mi.status == "issued":
        raise InvalidTransition("the minutes are issued", code="minutes_issued")
    if data.recipients is not None:
        recipients = [r.model_dump() for r in data.recipients]
    else:
        seen: dict[str, dict[str, object]] = {
            str(p["subject"]): dict(p) for p in m.participants if p.get("subject")
        }
        for a in await attendance.of_meeting(session, m):
            seen.setdefault(a.person, {"subject": a.person, "name": a.name, "unit_name": a.unit_name})
        recipients = list(seen.values())
    if mi is None:
        mi = Minutes(
            meeting_id=m.id,
            tenant_path=m.tenant_path,
            number=number_of(m),
            title=f"{m.title}纪要",
            summary=data.summary,
            status="draft",
            recipients=recipients,
            due_at=await _due(session, m),
            drafted_by=principal.subject,
            drafted_at=now,
        )
        session.add(mi)
    else:  # a new draft needs a new signature
        mi.summary, mi.recipients, mi.status = data.summary, recipients, "draft"
        mi.drafted_by, mi.drafted_at, mi.signed_by, mi.signed_at = principal.subject, now, None, None
    await record_change(
        session,
        actor=principal.subject,
        tenant=m.tenant_code,
        action="draft",
        entity="minutes",
        entity_id=str(m.id),
        changes={"recipients": len(recipients)},
        source=SOURCE,
    )
    await session.flush()
    return mi


def _is_chair(principal: Principal, m: Meeting) -> bool:
    if m.chair_subject:
        return principal.subject == m.chair_subject
    return principal.has(Role.LEADER)


async def sign(session: AsyncSession, *, principal: Principal, m: Meeting, now: datetime) -> Minutes:
    mi = await get(session, m, lock=True)
    if not _is_chair(principal, m):
        raise Forbidden("only the chair (主持人) signs the minutes off", code="chair_required")
    if mi.status != "draft":
        raise InvalidTransition(f"the minutes are {mi.status}", code="not_a_draft")
    mi.status, mi.signed_by, mi.signed_at = "signed", principal.subject, now
    await record_change(
        session,
        actor=principal.subject,
        tenant=m.tenant_code,
        action="sign",
        entity="minutes",
        entity_id=str(m.id),
        source=SOURCE,
    )
    return mi


async def issue(session: AsyncSession, *, principal: Principal, m: Meeting, now: datetime) -> Minutes:
    mi = await get(session, m, lock=True)
    if mi.status == "draft":
        raise InvalidTransition("the chair has not signed the minutes off", code="chair_signoff_missing")
    if mi.status == "issued":
        raise InvalidTransition("the minutes are issued already", code="minutes_issued")
    mi.status, mi.issued_by, mi.issued_at = "issued", principal.subject, now
    await timers.cancel(session, kind="minutes.due", key=str(m.id))
    late = now >= mi.due_at
    MINUTES_LATENESS.observe(max(0.0, (now - mi.due_at).total_seconds()))
    await record_change(
        session,
        actor=principal.subject,
        tenant=m.tenant_code,
        action="issue",
        entity="minutes",
        entity_id=str(m.id),
        changes={"late": late},
        event=ev.MinutesIssued(
            meeting_id=str(m.id),
            number=mi.number,
            title=mi.title,
            issued_at=now,
            due_at=mi.due_at,
            late=late,
            signed_by=mi.signed_by or "",
            recipient_subjects=subjects(mi.recipients),
        ),
        source=SOURCE,
        subject=str(m.id),
    )
    return mi


async def acknowledge(session: AsyncSession, *, principal: Principal, m: Meeting, now: datetime) -> Minutes:
    mi = await get(session, m, lock=True)
    if mi.status != "issued":
        raise InvalidTransition("the minutes are not issued yet", code="not_issued")
    if principal.subject not in {str(r.get("subject")) for r in mi.recipients if r.get("subject")}:
        raise Forbidden("you are not a recipient of these minutes", code="not_a_recipient")
    acks = await acks_of(session, m.id)
    if principal.subject in acks:
        return mi  # acknowledging twice changes nothing
    session.add(Acknowledgement(meeting_id=m.id, recipient=principal.subject, acknowledged_at=now))
    outstanding = len(subjects(mi.recipients)) - len(acks) - 1
    await record_change(
        session,
        actor=principal.subject,
        tenant=m.tenant_code,
        action="acknowledge",
        entity="minutes",
        entity_id=str(m.id),
        event=ev.MinutesAcknowledged(
            meeting_id=str(m.id),
            number=mi.number,
            title=mi.title,
            recipient=principal.subject,
            acknowledged_at=now,
            outstanding=outstanding,
        ),
        source=SOURCE,
        subject=str(m.id),
    )
    await session.flush()
    return mi


def organizer_subjects(m: Meeting) -> list[str]:
    return sorted({m.created_by} - {"system"})
