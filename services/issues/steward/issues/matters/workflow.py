"""The matter workflow: filed → accepted (sorted to a unit) → in_progress → resolved → confirmed or
reopened by the reporter → closed (rated 1–5); rejected or returned with a reason; SLA pause while
waiting on the enterprise; manual escalation (next tier or the weekly meeting). Every step locks the
row, checks scope and state (409 ``invalid_transition`` otherwise, nothing written), appends history
and emits an event in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events import issues as ev
from steward.issues import metrics
from steward.issues.matters import deadlines as dl
from steward.issues.matters import timers
from steward.issues.matters.events import publish, record
from steward.issues.matters.models import OPEN_STATUSES, Matter
from steward.issues.matters.schemas import (
    RATING_LABELS,
    AcceptIn,
    AssignIn,
    CloseIn,
    EscalateIn,
    Kind,
    RateIn,
    Status,
)
from steward.issues.matters.service import get
from steward.kit.auth import Principal, Role
from steward.kit.errors import Forbidden, InvalidTransition, ValidationFailed
from steward.kit.tenancy import in_subtree
from steward.kit.timers import cancel

HANDLERS = (
    Role.PLATFORM_ADMIN,
    Role.TENANT_ADMIN,
    Role.DISPATCHER,
    Role.SPECIALIST,
    Role.LEADER,
    Role.SUPERVISOR,
    Role.SERVICE,
)
WORKERS = (*HANDLERS, Role.AGENT, Role.LIAISON, Role.STEWARD)
ON_BEHALF = (Role.PLATFORM_ADMIN, Role.TENANT_ADMIN, Role.DISPATCHER, Role.SERVICE)


def _handling_chain(m: Matter) -> list[str]:
    codes = m.tenant_path.split("/")
    return codes[: codes.index(m.handling_tenant) + 1] if m.handling_tenant in codes else codes


def ensure_handler(principal: Principal, m: Matter) -> None:
    """Sorting, assigning, rejecting, escalating: staff at the handling tenant or above."""
    if principal.is_enterprise or not principal.has(*HANDLERS):
        raise Forbidden("requires a dispatching role at the handling tenant", code="role_required")
    if not in_subtree(principal.tenant, _handling_chain(m)):
        raise Forbidden(
            f"the matter is handled at {m.handling_tenant}, above your scope", code="not_handling_tenant"
        )


def ensure_worker(principal: Principal, m: Matter) -> None:
    """Working on it: the responsible unit's people, or staff at the handling tenant or above."""
    if principal.is_enterprise:
        raise Forbidden("enterprise contacts cannot work on a matter", code="role_required")
    if principal.unit and principal.unit == m.responsible_unit_id and principal.has(*WORKERS):
        return
    if not principal.has(*WORKERS):
        raise Forbidden("requires a working role", code="role_required")
    if not in_subtree(principal.tenant, _handling_chain(m)):
        raise Forbidden(
            f"the matter is handled at {m.handling_tenant}, above your scope", code="not_handling_tenant"
        )


def ensure_reporter(principal: Principal, m: Matter) -> None:
    """Feedback (confirm, reopen, close, rate, resubmit): the reporter, or an admin on their behalf."""
    if principal.subject == m.reporter:
        return
    if not principal.has(*ON_BEHALF) or principal.is_enterprise:
        raise Forbidden("only the reporter gives feedback on a matter", code="not_reporter")


def _state(m: Matter, allowed: Iterable[Status], action: str) -> None:
    names = [s.value for s in allowed]
    if m.status not in names:
        raise InvalidTransition(
            f"cannot {action} a matter that is {m.status}",
            details=[
                {"loc": ["status"], "message": f"{action} needs status {names}", "type": "invalid_transition"}
            ],
        )


async def _step(
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
    )
    if event is not None:
        if "reason" in event.model_fields:
            extra.setdefault("reason", reason)
        await publish(session, m, event, actor=principal.subject, **extra)
    return m


async def accept(
    session: AsyncSession, *, principal: Principal, key: str, body: AcceptIn, now: datetime
) -> Matter:
    m = await get(session, principal=principal, key=key, lock=True)
    ensure_handler(principal, m)
    _state(m, [Status.FILED], "accept")
    m.responsible_unit_id = body.responsible_unit_id or m.responsible_unit_id
    m.responsible_unit_name = body.responsible_unit_name
    m.responsible_person = body.responsible_person or m.responsible_person
    m.accepted_at = now
    return await _step(
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
    _state(m, [Status.ACCEPTED, Status.IN_PROGRESS], "assign")
    if not (body.responsible_unit_id or body.responsible_unit_name or body.responsible_person):
        raise ValidationFailed("name a unit or a person to assign", code="nothing_to_assign")
    if body.responsible_unit_id or body.responsible_unit_name:
        m.responsible_unit_id = body.responsible_unit_id
        m.responsible_unit_name = body.responsible_unit_name
    if body.responsible_person:
        m.responsible_person = body.responsible_person
    return await _step(
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
    _state(m, [Status.ACCEPTED], "start")
    return await _step(
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
    _state(m, [Status.ACCEPTED, Status.IN_PROGRESS], "answer")
    if m.answered_at is not None:
        raise InvalidTransition("the matter was answered already", code="already_answered")
    m.answered_at = now
    on_time = m.answer_due_at is None or now < m.answer_due_at
    await cancel(session, kind=timers.ANSWER, key=str(m.id))
    return await _step(
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
    _state(m, [Status.ACCEPTED, Status.IN_PROGRESS], "resolve")
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
    return await _step(
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


async def confirm(
    session: AsyncSession, *, principal: Principal, key: str, note: str, now: datetime
) -> Matter:
    m = await get(session, principal=principal, key=key, lock=True)
    ensure_reporter(principal, m)
    _state(m, [Status.RESOLVED], "confirm")
    return await _step(
        session,
        m,
        principal=principal,
        now=now,
        action="confirmed",
        to=Status.CONFIRMED,
        event=ev.MatterConfirmed,
        reason=note,
    )


async def reopen(
    session: AsyncSession, *, principal: Principal, key: str, reason: str, now: datetime
) -> Matter:
    m = await get(session, principal=principal, key=key, lock=True)
    ensure_reporter(principal, m)
    _state(m, [Status.RESOLVED], "reopen")
    m.resolved_at = None
    await _step(
        session,
        m,
        principal=principal,
        now=now,
        action="reopened",
        to=Status.IN_PROGRESS,
        event=ev.MatterReopened,
        reason=reason,
        data={"resolution": m.resolution},
    )
    await timers.arm(session, m, now=now)
    return m


async def _rate(
    session: AsyncSession, m: Matter, principal: Principal, rating: int, comment: str, now: datetime
) -> None:
    m.rating = rating
    m.rating_comment = comment or None
    await record(
        session,
        m,
        actor=principal.subject,
        action="rated",
        at=now,
        reason=comment,
        data={"rating": rating, "label": RATING_LABELS[rating]},
    )
    await publish(
        session,
        m,
        ev.MatterRated,
        actor=principal.subject,
        rating=rating,
        rating_label=RATING_LABELS[rating],
        comment=comment,
        rated_by=principal.subject,
    )


async def close(
    session: AsyncSession, *, principal: Principal, key: str, body: CloseIn, now: datetime
) -> Matter:
    m = await get(session, principal=principal, key=key, lock=True)
    if principal.subject == m.reporter:
        _state(m, [Status.RESOLVED, Status.CONFIRMED], "close")
    elif m.status == Status.RESOLVED.value and not m.policy.get("feedback_by_reporter", True):
        ensure_handler(principal, m)
    else:
        ensure_reporter(principal, m)
        _state(m, [Status.CONFIRMED], "close")
    if body.rating is not None and principal.subject != m.reporter:
        raise Forbidden("only the reporter rates the handling", code="not_reporter")
    m.closed_at = now
    await _step(
        session,
        m,
        principal=principal,
        now=now,
        action="closed",
        to=Status.CLOSED,
        event=ev.MatterClosed,
        reason=body.comment,
        overdue=m.ever_overdue,
        escalations=m.escalations,
    )
    if body.rating is not None:
        await _rate(session, m, principal, body.rating, body.comment, now)
    return m


async def rate(
    session: AsyncSession, *, principal: Principal, key: str, body: RateIn, now: datetime
) -> Matter:
    m = await get(session, principal=principal, key=key, lock=True)
    if principal.subject != m.reporter:
        raise Forbidden("only the reporter rates the handling", code="not_reporter")
    _state(m, [Status.CLOSED], "rate")
    if m.rating is not None:
        raise InvalidTransition("the matter was rated already", code="already_rated")
    m.row_version += 1
    await _rate(session, m, principal, body.rating, body.comment, now)
    return m


async def reject(
    session: AsyncSession, *, principal: Principal, key: str, reason: str, now: datetime
) -> Matter:
    m = await get(session, principal=principal, key=key, lock=True)
    ensure_handler(principal, m)
    _state(m, [Status.FILED, Status.RETURNED], "reject")
    m.closed_at = now
    await timers.disarm(session, m)
    return await _step(
        session,
        m,
        principal=principal,
        now=now,
        action="rejected",
        to=Status.REJECTED,
        event=ev.MatterRejected,
        reason=reason,
    )


async def _pause(session: AsyncSession, m: Matter, now: datetime, reason: str) -> None:
    m.paused_at = now
    m.pause_reason = reason
    await timers.disarm(session, m)


async def _resume(session: AsyncSession, m: Matter, now: datetime) -> int:
    assert m.paused_at is not None
    cal = dl.calendar_of(m.policy)
    days = dl.paused_working_days(cal, m.paused_at, now)
    m.due_at = dl.extend(cal, m.due_at, days)
    if m.answer_due_at is not None and m.answered_at is None:
        m.answer_due_at = dl.extend(cal, m.answer_due_at, days)
    m.paused_working_days += days
    m.paused_at = None
    m.pause_reason = None
    if m.overdue and m.due_at > now:
        m.overdue = False
        m.overdue_at = None
    if not m.overdue:
        await timers.arm(session, m, now=now)
    return days


async def return_(
    session: AsyncSession, *, principal: Principal, key: str, reason: str, now: datetime
) -> Matter:
    """Back to the reporter for more information; the SLA clock waits meanwhile."""
    m = await get(session, principal=principal, key=key, lock=True)
    ensure_handler(principal, m)
    _state(m, [Status.FILED, Status.ACCEPTED], "return")
    if m.paused_at is None:
        await _pause(session, m, now, reason)
    return await _step(
        session,
        m,
        principal=principal,
        now=now,
        action="returned",
        to=Status.RETURNED,
        event=ev.MatterReturned,
        reason=reason,
    )


async def resubmit(
    session: AsyncSession, *, principal: Principal, key: str, text: str, now: datetime
) -> Matter:
    m = await get(session, principal=principal, key=key, lock=True)
    ensure_reporter(principal, m)
    _state(m, [Status.RETURNED], "resubmit")
    m.description = f"{m.description}\n\n【补充】{text}".strip()
    days = await _resume(session, m, now) if m.paused_at is not None else 0
    return await _step(
        session,
        m,
        principal=principal,
        now=now,
        action="resubmitted",
        to=Status.FILED,
        event=ev.MatterResumed,
        reason=text,
        data={"paused_working_days": days},
        paused_working_days=days,
    )


async def pause(
    session: AsyncSession, *, principal: Principal, key: str, reason: str, now: datetime
) -> Matter:
    m = await get(session, principal=principal, key=key, lock=True)
    ensure_worker(principal, m)
    _state(m, [Status.ACCEPTED, Status.IN_PROGRESS], "pause")
    if m.paused_at is not None:
        raise InvalidTransition("the SLA clock is paused already", code="already_paused")
    await _pause(session, m, now, reason)
    return await _step(
        session,
        m,
        principal=principal,
        now=now,
        action="paused",
        to=None,
        event=ev.MatterPaused,
        reason=reason,
    )


async def resume(
    session: AsyncSession, *, principal: Principal, key: str, note: str, now: datetime
) -> Matter:
    m = await get(session, principal=principal, key=key, lock=True)
    ensure_worker(principal, m)
    _state(m, [Status.ACCEPTED, Status.IN_PROGRESS], "resume")
    if m.paused_at is None:
        raise InvalidTransition("the SLA clock is not paused", code="not_paused")
    days = await _resume(session, m, now)
    return await _step(
        session,
        m,
        principal=principal,
        now=now,
        action="resumed",
        to=None,
        event=ev.MatterResumed,
        reason=note,
        data={"paused_working_days": days, "due_at": m.due_at.isoformat()},
        paused_working_days=days,
    )


async def escalate(
    session: AsyncSession, *, principal: Principal, key: str, body: EscalateIn, now: datetime
) -> Matter:
    """By hand: one tier up (fresh SLA there), or onto the weekly meeting's agenda (议题)."""
    m = await get(session, principal=principal, key=key, lock=True)
    ensure_handler(principal, m)
    _state(m, [Status(s) for s in OPEN_STATUSES], "escalate")
    if body.to == "meeting":
        if m.meeting_topic_at is not None:
            raise InvalidTransition("the matter is on the meeting agenda already", code="already_on_agenda")
        m.meeting_topic_at = now
        metrics.ESCALATIONS.labels(m.kind, "meeting").inc()
        return await _step(
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
