"""Statements and decisions of a meeting. Each decision is numbered within its meeting and, in the
same transaction, arms the ``decision.file`` timer that files it in the issues service: the filing
survives a crash at any point and, being idempotent on ``decision:<id>``, yields exactly one matter."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events import meetings as ev
from steward.kit import timers, writes
from steward.kit.auth import Principal
from steward.kit.changes import record_change
from steward.kit.db import JSONB
from steward.kit.errors import InvalidTransition, NotFound, ValidationFailed
from steward.meetings.agenda.models import Topic
from steward.meetings.decisions.models import Decision, Statement
from steward.meetings.decisions.schemas import DecisionCreate, DecisionOut, StatementCreate, StatementOut
from steward.meetings.meetings.models import Meeting
from steward.meetings.minutes.models import Minutes
from steward.meetings.series import schedule
from steward.meetings.settings import SOURCE
from steward.rules import MeetingSeries

FILE_TIMER = "decision.file"
DEFAULT_DAYS = 10
MAX_DUE_DAYS = 3 * 366


def to_out(d: Decision) -> DecisionOut:
    return DecisionOut(
        id=d.id,
        meeting_id=d.meeting_id,
        topic_id=d.topic_id,
        number=d.number,
        text=d.text,
        responsible_unit_id=d.responsible_unit_id,
        responsible_unit_name=d.responsible_unit_name,
        responsible_person=d.responsible_person,
        due_date=d.due_date,
        deadline_source=d.deadline_source,  # type: ignore[arg-type]
        matter_id=d.matter_id,
        matter_number=d.matter_number,
        filed_at=d.filed_at,
        filing_error=d.filing_error,
    )


def statement_out(s: Statement) -> StatementOut:
    return StatementOut(
        id=s.id,
        meeting_id=s.meeting_id,
        topic_id=s.topic_id,
        kind=s.kind,
        unit_name=s.unit_name,
        speaker=s.speaker,
        text=s.text,
        recorded_at=s.recorded_at,
    )


async def ensure_recordable(session: AsyncSession, m: Meeting) -> None:
    minutes = await session.get(Minutes, m.id)
    _check_recordable(m, minutes.status if minutes is not None else None)


def _check_recordable(m: Meeting, minutes_status: str | None) -> None:
    if m.status in ("cancelled", "skipped"):
        raise InvalidTransition(f"the meeting is {m.status}", code="meeting_closed")
    if minutes_status == "issued":
        raise InvalidTransition("the minutes are issued: the record is closed", code="minutes_issued")


async def _topic(session: AsyncSession, m: Meeting, topic_id: uuid.UUID | None) -> Topic | None:
    if topic_id is None:
        return None
    t = await session.get(Topic, topic_id)
    if t is None or t.meeting_id != m.id:
        raise NotFound("topic not found on this meeting")
    return t


async def of_meeting(session: AsyncSession, m: Meeting) -> list[Decision]:
    rows = await session.exec(
        select(Decision).where(Decision.meeting_id == m.id).order_by(col(Decision.number))
    )
    return list(rows.all())


async def statements_of(session: AsyncSession, m: Meeting) -> list[Statement]:
    rows = await session.exec(
        select(Statement)
        .where(Statement.meeting_id == m.id)
        .order_by(col(Statement.recorded_at), col(Statement.id))
    )
    return list(rows.all())


async def add_statement(
    session: AsyncSession, *, principal: Principal, m: Meeting, data: StatementCreate, now: datetime
) -> Statement:
    await ensure_recordable(session, m)
    await _topic(session, m, data.topic_id)
    s = Statement(
        meeting_id=m.id,
        topic_id=data.topic_id,
        kind=data.kind,
        unit_name=data.unit_name,
        speaker=data.speaker,
        text=data.text,
        recorded_by=principal.subject,
        recorded_at=now,
    )
    session.add(s)
    await session.flush()
    return s


# What recording a decision reads once the meeting row is locked, in one constant statement: whether
# the minutes are issued, the last number in the meeting (the lock serialises the numbering), the
# series' rules and calendar, and the topic named (``:topic`` NULL: none). Taken after the lock, so
# a decision committed by the request that held it is counted.
_FACTS = (
    sa.text(
        "SELECT (SELECT mi.status FROM minutes mi WHERE mi.meeting_id = :meeting) AS minutes_status, "
        "(SELECT coalesce(max(d.number), 0) FROM decisions d WHERE d.meeting_id = :meeting) AS last, "
        "s.spec, s.calendar, t.meeting_id AS topic_meeting, t.project_id AS topic_project "
        "FROM (SELECT 1) AS one "
        "LEFT JOIN series s ON s.id = :series "
        "LEFT JOIN topics t ON t.id = :topic"
    )
    .bindparams(
        sa.bindparam("meeting", type_=sa.Uuid()),
        sa.bindparam("series", type_=sa.Uuid()),
        sa.bindparam("topic", type_=sa.Uuid()),
    )
    .columns(
        sa.column("minutes_status", sa.String()),
        sa.column("last", sa.Integer()),
        sa.column("spec", JSONB),
        sa.column("calendar", JSONB),
        sa.column("topic_meeting", sa.Uuid()),
        sa.column("topic_project", sa.String()),
    )
)


async def record(
    session: AsyncSession, *, principal: Principal, m: Meeting, data: DecisionCreate, now: datetime
) -> Decision:
    """A decision, numbered in its meeting (the meeting row is locked by the caller). Round trips:
    the facts (``_FACTS``), then the decision, its filing timer, the audit entry, the event and the
    NOTIFY as one statement (``steward.kit.writes``)."""
    facts = (
        await session.execute(_FACTS, {"meeting": m.id, "series": m.series_id, "topic": data.topic_id})
    ).one()
    _check_recordable(m, facts.minutes_status)
    if data.topic_id is not None and facts.topic_meeting != m.id:
        raise NotFound("topic not found on this meeting")
    has_series = m.series_id is not None and facts.spec is not None
    spec = MeetingSeries.model_validate(facts.spec) if has_series else None
    cal = schedule.calendar_of(facts.calendar if has_series else None)
    # counted from the meeting day, or from today when the decision is recorded later
    day = max(schedule.local_date(m.held_at or m.starts_at), schedule.local_date(now))
    if data.due_date is not None:
        if not day <= data.due_date <= day + timedelta(days=MAX_DUE_DAYS):
            raise ValidationFailed(
                "due_date must lie between the meeting day (or today, if later) and three years later",
                code="invalid_due_date",
                details=[{"loc": ["due_date"], "message": "out of range", "type": "invalid_due_date"}],
            )
        due: date = data.due_date
        source = "chair"
    else:
        due = schedule.default_due_date(
            cal, day, spec.decision_default_working_days if spec else DEFAULT_DAYS
        )
        source = "default"
    number = int(facts.last) + 1
    d = Decision(
        meeting_id=m.id,
        topic_id=data.topic_id,
        tenant_code=m.tenant_code,
        tenant_path=m.tenant_path,
        number=number,
        text=data.text,
        responsible_unit_id=data.responsible_unit_id,
        responsible_unit_name=data.responsible_unit_name,
        responsible_person=data.responsible_person,
        project_id=facts.topic_project if data.topic_id is not None else None,
        due_date=due,
        deadline_source=source,
        recorded_by=principal.subject,
        recorded_at=now,
    )
    async with writes.batched(session):  # decision, timer, audit, event, NOTIFY: one statement
        writes.add(session, d, attach=True)
        if spec is None or spec.decisions_become_matters:
            await timers.schedule(session, kind=FILE_TIMER, key=str(d.id), tenant=m.tenant_code, due_at=now)
        await record_change(
            session,
            actor=principal.subject,
            tenant=m.tenant_code,
            action="decide",
            entity="decision",
            entity_id=str(d.id),
            changes={"number": number, "due_date": due.isoformat()},
            event=ev.DecisionRecorded(
                decision_id=str(d.id),
                meeting_id=str(m.id),
                topic_id=str(d.topic_id) if d.topic_id else None,
                project_id=d.project_id,
                number=number,
                text=d.text,
                responsible_unit_id=d.responsible_unit_id,
                responsible_unit_name=d.responsible_unit_name,
                responsible_person=d.responsible_person,
                due_date=due,
                deadline_source=source,  # type: ignore[arg-type]
            ),
            source=SOURCE,
            subject=str(d.id),
        )
    return d
