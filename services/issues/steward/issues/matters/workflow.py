"""The matter workflow, main path: filed → accepted (sorted to a unit) → in_progress → resolved;
rejected with a reason; manual escalation (next tier or the weekly meeting). Every step locks the row,
checks scope and state (409 ``invalid_transition`` otherwise, nothing written), appends history and
emits an event in the same transaction (:func:`apply_step`). The reporter's feedback is in
:mod:`.feedback`, the SLA pause and return-to-reporter in :mod:`.pausing`, the guards in :mod:`.access`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events import issues as ev
from steward.issues import metrics
from steward.issues.matters import deadlines as dl
from steward.issues.matters import timers
from steward.issues.matters.access import ensure_handler, ensure_worker
from steward.issues.matters.events import matter_event, record
from steward.issues.matters.models import OPEN_STATUSES, Matter
from steward.issues.matters.schemas import (
    AcceptIn,
    AssignIn,
    EscalateIn,
    Kind,
    Status,
)
from steward.issues.matters.service import get
from steward.kit.auth import Principal
from steward.kit.errors import InvalidTransition, ValidationFailed
from steward.kit.timers import cancel


def require_status(m: Matter, allowed: Iterable[Status], action: str) -> None:
    names = [s.value for s in allowed]
    if m.status not in names:
        raise InvalidTransition(
            f"cannot {action} a matter that is {m.status}",
            details=[
                {"loc": ["status"], "message": f"{action} needs status {names}", "type": "invalid_transition"}
            ],
        )


async def apply_step(
    session: AsyncSession,
    m: Matter,
    *,
    principal: Principal,
    now: datetime,
    action: str,
    to: Status | None,
    event: type[ev._MatterEvent] | None,
    reason: str = "",
    data: dict[str, Any] | None = None,
    **extra: Any,
) -> Matter:
    before = m.status
    if to is not None:
        m.status = to.value
    m.updated_at = now
    m.row_version += 1
    if event is not None and "reason" in event.model_fields:
        extra.setdefault("reason", reason)
    await record(
        session,
        m,
        actor=principal.subject,
        action=action,
        at=now,
        from_status=before,
        to_status=m.status,
        reason=reason,
        data=data,
        event=matter_event(m, event, **extra) if event is not None else None,
    )
    return m


async def accept(
    session: AsyncSession, *, principal: Principal, key: str, body: AcceptIn, now: datetime
) -> Matter:
    m = await get(session, principal=principal, key=key, lock=True)
    ensure_handler(principal, m)
    require_status(m, [Status.FILED], "accept")
    m.responsible_unit_id = body.responsible_unit_id or m.responsible_unit_id
    m.responsible_unit_name = body.responsible_unit_name
    m.responsible_person = body.responsible_person or m.responsible_person
    m.accepted_at = now
    return await apply_step(
        session,
        m,
        principal=principal,
        now=now,
        action="accepted",
        to=Status.ACCEPTED,
        event=ev.MatterAccepted,
        reason=body.note,
        data={"responsible_unit": m.responsible_unit_name, "person": m.responsible_person},
        responsible_unit_name=m.responsible_unit_name,
    )


async def assign(
    session: AsyncSession, *, principal: Principal, key: str, body: AssignIn, now: datetime
) -> Matter:
    m = await get(session, principal=principal, key=key, lock=True)
    ensure_handler(principal, m)
    require_status(m, [Status.ACCEPTED, Status.IN_PROGRESS], "assign")
    if not (body.responsible_unit_id or body.responsible_unit_name or body.responsible_person):
        raise ValidationFailed("name a unit or a person to assign", code="nothing_to_assign")
    if body.responsible_unit_id or body.responsible_unit_name:
        m.responsible_unit_id = body.responsible_unit_id
        m.responsible_unit_name = body.responsible_unit_name
    if body.responsible_person:
        m.responsible_person = body.responsible_person
    return await apply_step(
        session,
        m,
        principal=principal,
        now=now,
        action="assigned",
        to=None,
        event=ev.MatterAssigned,
        reason=body.note,
        data={"unit": m.responsible_unit_name, "person": m.responsible_person},
        responsible_unit_name=m.responsible_unit_name,
        responsible_person=m.responsible_person,
    )


async def start(session: AsyncSession, *, principal: Principal, key: str, note: str, now: datetime) -> Matter:
    m = await get(session, principal=principal, key=key, lock=True)
    ensure_worker(principal, m)
    require_status(m, [Status.ACCEPTED], "start")
    return await apply_step(
        session,
        m,
        principal=principal,
        now=now,
        action="started",
        to=Status.IN_PROGRESS,
        event=ev.MatterStarted,
        reason=note,
    )


async def answer(
    session: AsyncSession, *, principal: Principal, key: str, text: str, now: datetime
) -> Matter:
    m = await get(session, principal=principal, key=key, lock=True)
    ensure_worker(principal, m)
    require_status(m, [Status.ACCEPTED, Status.IN_PROGRESS], "answer")
    if m.answered_at is not None:
        raise InvalidTransition("the matter was answered already", code="already_answered")
    m.answered_at = now
    on_time = m.answer_due_at is None or now < m.answer_due_at
    await cancel(session, kind=timers.ANSWER, key=str(m.id))
    return await apply_step(
        session,
        m,
        principal=principal,
        now=now,
        action="answered",
        to=None,
        event=ev.MatterAnswered,
        reason=text,
        data={"on_time": on_time},
        answer=text,
        on_time=on_time,
    )


async def resolve(
    session: AsyncSession, *, principal: Principal, key: str, text: str, now: datetime
) -> Matter:
    m = await get(session, principal=principal, key=key, lock=True)
    ensure_worker(principal, m)
    require_status(m, [Status.ACCEPTED, Status.IN_PROGRESS], "resolve")
    if m.kind == Kind.PROCEDURE.value:
        raise InvalidTransition(
            "procedures are completed with POST /v1/matters/{id}/complete", code="use_complete"
        )
    if m.paused_at is not None:
        raise InvalidTransition("resume the paused matter before resolving it", code="paused")
    m.resolution = text
    m.resolved_at = now
    late = m.ever_overdue or now >= m.due_at
    await timers.disarm(session, m)
    seconds = int((now - m.filed_at).total_seconds())
    metrics.TIME_TO_RESOLVE.labels(m.kind).observe(max(0, seconds))
    return await apply_step(
        session,
        m,
        principal=principal,
        now=now,
        action="resolved",
        to=Status.RESOLVED,
        event=ev.MatterResolved,
        reason=text,
        data={"overdue": late},
        resolution=text,
        overdue=late,
        seconds_to_resolve=max(0, seconds),
    )


async def reject(
    session: AsyncSession, *, principal: Principal, key: str, reason: str, now: datetime
) -> Matter:
    m = await get(session, principal=principal, key=key, lock=True)
    ensure_handler(principal, m)
    require_status(m, [Status.FILED, Status.RETURNED], "reject")
    m.closed_at = now
    await timers.disarm(session, m)
    return await apply_step(
        session,
        m,
        principal=principal,
        now=now,
        action="rejected",
        to=Status.REJECTED,
        event=ev.MatterRejected,
        reason=reason,
    )


async def escalate(
    session: AsyncSession, *, principal: Principal, key: str, body: EscalateIn, now: datetime
) -> Matter:
    """By hand: one tier up (fresh SLA there), or onto the weekly meeting's agenda (议题)."""
    m = await get(session, principal=principal, key=key, lock=True)
    ensure_handler(principal, m)
    require_status(m, [Status(s) for s in OPEN_STATUSES], "escalate")
    if body.to == "meeting":
        if m.meeting_topic_at is not None:
            raise InvalidTransition("the matter is on the meeting agenda already", code="already_on_agenda")
        m.meeting_topic_at = now
        metrics.ESCALATIONS.labels(m.kind, "meeting").inc()
        return await apply_step(
            session,
            m,
            principal=principal,
            now=now,
            action="to_meeting",
            to=None,
            event=ev.MatterEscalated,
            reason=body.reason,
            from_tier=m.tier,
            to_tier=m.tier,
            from_tenant=m.handling_tenant,
            to_tenant=m.handling_tenant,
            automatic=False,
            to_meeting=True,
        )
    to_tier = dl.next_tier(m.policy, m.tier)
    if to_tier is None:
        raise InvalidTransition(f"no tier above {m.tier} in the escalation chain", code="top_tier")
    await timers.escalate(
        session, m, to_tier=to_tier, now=now, actor=principal.subject, reason=body.reason, automatic=False
    )
    return m
