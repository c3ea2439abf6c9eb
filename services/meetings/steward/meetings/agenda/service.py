"""Agenda intake (议题申报): topics submitted for a meeting by its deadline (late ones go to the next
meeting unless the organiser marks them urgent, with the reason), signed off by the roles the rules
require (each by a person holding that role, with who and when), withdrawn, listed; the series'
backlog is every topic not yet discussed. Service functions never commit."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events import meetings as ev
from steward.kit import writes
from steward.kit.auth import Principal
from steward.kit.changes import record_change
from steward.kit.errors import Conflict, Forbidden, InvalidTransition, NotFound
from steward.kit.paging import keyset_page, scoped
from steward.meetings.access import ORGANIZER_ROLES, ensure_visible, signoff_allowed
from steward.meetings.agenda.models import SignOff, Topic
from steward.meetings.agenda.schemas import SignIn, SignOffOut, TopicCreate, TopicOut, UrgentIn, WithdrawIn
from steward.meetings.meetings import backlog
from steward.meetings.meetings import service as meetings
from steward.meetings.meetings.models import OPEN_STATUSES, Meeting
from steward.meetings.metrics import DEFERRED_TOPICS
from steward.meetings.settings import SOURCE
from steward.rules import MeetingSeries

DEFAULT_SIGNOFFS = ("unit_head", "leader_in_charge")


def required_signoffs(m: Meeting, spec: MeetingSeries | None) -> list[str]:
    return list(spec.required_signoffs) if spec is not None else list(DEFAULT_SIGNOFFS)


def to_out(t: Topic, signoffs: list[SignOff], required: list[str]) -> TopicOut:
    have = {s.role for s in signoffs}
    return TopicOut(
        id=t.id,
        tenant=t.tenant_code,
        series_id=t.series_id,
        meeting_id=t.meeting_id,
        requested_meeting_id=t.requested_meeting_id,
        title=t.title,
        problem=t.problem,
        request=t.request,
        project_id=t.project_id,
        project_name=t.project_name,
        unit_id=t.unit_id,
        unit_name=t.unit_name,
        departments=list(t.departments),
        matter_ids=list(t.matter_ids),
        submitter=t.submitter,
        status=t.status,  # type: ignore[arg-type]
        source=t.source,  # type: ignore[arg-type]
        late=t.late,
        urgent=t.urgent,
        urgent_reason=t.urgent_reason,
        deferrals=t.deferrals,
        position=t.position,
        submitted_at=t.submitted_at,
        signoffs=[
            SignOffOut(
                role=s.role,  # type: ignore[arg-type]
                subject=s.subject,
                name=s.name,
                unit_id=s.unit_id,
                comment=s.comment,
                signed_at=s.signed_at,
            )
            for s in sorted(signoffs, key=lambda s: s.signed_at)
        ],
        missing_signoffs=[r for r in required if r not in have],  # type: ignore[misc]
    )


async def signoffs_of(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, list[SignOff]]:
    out: dict[uuid.UUID, list[SignOff]] = {i: [] for i in ids}
    if ids:
        for s in (await session.exec(select(SignOff).where(col(SignOff.topic_id).in_(ids)))).all():
            out[s.topic_id].append(s)
    return out


async def required_for(session: AsyncSession, t: Topic) -> list[str]:
    m = await session.get(Meeting, t.meeting_id)
    spec = meetings.spec_of(await meetings.series_of(session, m)) if m is not None else None
    return required_signoffs(m, spec) if m is not None else list(DEFAULT_SIGNOFFS)


async def out(session: AsyncSession, t: Topic) -> TopicOut:
    return to_out(t, (await signoffs_of(session, [t.id]))[t.id], await required_for(session, t))


async def submitted_out(session: AsyncSession, t: Topic) -> TopicOut:
    """A topic just submitted: no sign-offs yet (no query for them)."""
    return to_out(t, [], await required_for(session, t))


async def get(session: AsyncSession, *, principal: Principal, topic_id: str, lock: bool = False) -> Topic:
    stmt = select(Topic).where(Topic.id == meetings.parse_id(topic_id, "topic"))
    if lock:
        stmt = stmt.with_for_update()
    t = (await session.exec(stmt)).first()
    if t is None:
        raise NotFound("topic not found")
    ensure_visible(principal, t.tenant_path, "topic")
    return t


async def submit(
    session: AsyncSession,
    *,
    principal: Principal,
    m: Meeting,
    data: TopicCreate,
    project_name: str | None,
    now: datetime,
) -> Topic:
    """File a topic for ``m``; after the agenda deadline it lands on the next meeting (late)."""
    meetings.ensure_open(m, "submit topics to")
    target, late = m, False
    if m.kind == "regular" and m.agenda_deadline_at is not None and now > m.agenda_deadline_at:
        nxt = await backlog.next_open_meeting(session, m)
        if nxt is None:
            raise Conflict(
                "the deadline has passed and no later meeting is scheduled", code="deadline_passed"
            )
        target, late = nxt, True
    t = Topic(
        series_id=m.series_id,
        meeting_id=target.id,
        requested_meeting_id=m.id,
        tenant_code=m.tenant_code,
        tenant_path=m.tenant_path,
        title=data.title,
        problem=data.problem,
        request=data.request,
        project_id=data.project_id,
        project_name=project_name,
        unit_id=data.unit_id,
        unit_name=data.unit_name,
        departments=list(dict.fromkeys(data.departments)),
        matter_ids=list(dict.fromkeys(data.matter_ids)),
        submitter=principal.subject,
        status="submitted",
        late=late,
        deferrals=1 if late else 0,
        submitted_at=now,
        updated_at=now,
    )
    base = {
        "series_key": m.series_key,
        "topic_id": str(t.id),
        "title": t.title,
        "project_id": t.project_id,
        "unit_name": t.unit_name,
        "submitter_subject": t.submitter,
    }
    async with writes.batched(session):  # topic, audit, event(s), NOTIFY: one statement
        writes.add(session, t, attach=True)
        await record_change(
            session,
            actor=principal.subject,
            tenant=t.tenant_code,
            action="submit",
            entity="topic",
            entity_id=str(t.id),
            changes={"meeting": str(m.id), "late": late},
            event=ev.AgendaSubmitted(meeting_id=str(m.id), late=late, matter_ids=t.matter_ids, **base),
            source=SOURCE,
            subject=str(t.id),
        )
        if late:
            DEFERRED_TOPICS.labels("late").inc()
            await record_change(
                session,
                actor="system",
                tenant=t.tenant_code,
                action="deferred:late",
                entity="topic",
                entity_id=str(t.id),
                changes={"from": str(m.id), "to": str(target.id)},
                event=ev.AgendaDeferred(
                    meeting_id=str(m.id), to_meeting_id=str(target.id), reason="late", **base
                ),
                source=SOURCE,
                subject=str(t.id),
            )
    return t


async def sign(
    session: AsyncSession, *, principal: Principal, t: Topic, data: SignIn, now: datetime
) -> Topic:
    if t.status not in ("submitted", "compiled"):
        raise InvalidTransition(f"the topic is {t.status}", code="topic_closed")
    required = await required_for(session, t)
    if data.role not in required:
        raise InvalidTransition(
            f"the rules do not ask for a {data.role} sign-off", code="signoff_not_required"
        )
    if not signoff_allowed(principal, data.role, t.unit_id):
        who = (
            "a leader of the submitting unit"
            if data.role == "unit_head"
            else "the leader in charge (not of the submitting unit)"
        )
        raise Forbidden(f"the {data.role} sign-off needs {who}", code="signoff_role_required")
    existing = (await signoffs_of(session, [t.id]))[t.id]
    if any(s.role == data.role for s in existing):
        raise Conflict(f"the topic is signed as {data.role} already", code="already_signed")
    if any(s.subject == principal.subject for s in existing):
        raise Conflict("one person cannot give both sign-offs", code="same_signer")
    session.add(
        SignOff(
            topic_id=t.id,
            role=data.role,
            subject=principal.subject,
            name=data.name,
            unit_id=principal.unit,
            comment=data.comment,
            signed_at=now,
        )
    )
    t.updated_at = now
    complete = {s.role for s in existing} | {data.role} >= set(required)
    await record_change(
        session,
        actor=principal.subject,
        tenant=t.tenant_code,
        action=f"sign:{data.role}",
        entity="topic",
        entity_id=str(t.id),
        changes={"name": data.name},
        event=ev.AgendaSigned(
            meeting_id=str(t.meeting_id),
            topic_id=str(t.id),
            title=t.title,
            project_id=t.project_id,
            unit_name=t.unit_name,
            submitter_subject=t.submitter,
            role=data.role,
            signed_by=data.name,
            complete=complete,
        ),
        source=SOURCE,
        subject=str(t.id),
    )
    await session.flush()
    return t


async def mark_urgent(
    session: AsyncSession, *, principal: Principal, t: Topic, data: UrgentIn, now: datetime
) -> Topic:
    """A late topic stays on the meeting it was meant for (紧急议题), with the reason."""
    if t.status != "submitted":
        raise InvalidTransition(f"the topic is {t.status}", code="topic_closed")
    target_id = data.meeting_id or t.requested_meeting_id
    m = await meetings.get(session, principal=principal, meeting_id=target_id, lock=True)
    meetings.ensure_open(m, "add topics to")
    if m.series_id != t.series_id or m.tenant_code != t.tenant_code:
        raise InvalidTransition("the meeting belongs to another series", code="other_series")
    t.urgent, t.urgent_reason, t.meeting_id, t.updated_at = True, data.reason, m.id, now
    await record_change(
        session,
        actor=principal.subject,
        tenant=t.tenant_code,
        action="urgent",
        entity="topic",
        entity_id=str(t.id),
        changes={"reason": data.reason, "meeting": str(m.id)},
        source=SOURCE,
    )
    return t


async def withdraw(
    session: AsyncSession, *, principal: Principal, t: Topic, data: WithdrawIn, now: datetime
) -> Topic:
    if t.submitter != principal.subject and not principal.has(*ORGANIZER_ROLES):
        raise Forbidden("only the submitter or the organiser may withdraw a topic", code="not_submitter")
    if t.status != "submitted":
        raise InvalidTransition(f"the topic is {t.status}", code="topic_closed")
    t.status, t.updated_at = "withdrawn", now
    await record_change(
        session,
        actor=principal.subject,
        tenant=t.tenant_code,
        action="withdraw",
        entity="topic",
        entity_id=str(t.id),
        changes={"reason": data.reason},
        source=SOURCE,
    )
    return t


async def list_topics(
    session: AsyncSession,
    *,
    base_path: str | None,
    meeting_id: uuid.UUID | None,
    series_id: uuid.UUID | None,
    status: str | None,
    backlog: bool,
    limit: int,
    cursor: str | None,
) -> tuple[list[Topic], str | None]:
    stmt = scoped(select(Topic), Topic.tenant_path, base_path)
    if meeting_id is not None:
        stmt = stmt.where(Topic.meeting_id == meeting_id)
    if series_id is not None:
        stmt = stmt.where(Topic.series_id == series_id)
    if status:
        stmt = stmt.where(Topic.status == status)
    if backlog:
        stmt = stmt.where(col(Topic.status).in_(("submitted", "compiled")))
    return await keyset_page(
        session, stmt, order=(Topic.submitted_at, Topic.id), cursor=cursor, limit=limit, descending=False
    )


def open_meeting(m: Meeting) -> bool:
    return m.status in OPEN_STATUSES
