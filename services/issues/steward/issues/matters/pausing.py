"""The SLA clock while waiting on the enterprise: pause/resume (the deadline moves by the paused
working days, recorded), and return to the reporter for more information / resubmission."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events import issues as ev
from steward.issues.matters import deadlines as dl
from steward.issues.matters import timers
from steward.issues.matters.access import ensure_handler, ensure_reporter, ensure_worker
from steward.issues.matters.models import Matter
from steward.issues.matters.schemas import (
    Status,
)
from steward.issues.matters.service import get
from steward.issues.matters.workflow import apply_step, require_status
from steward.kit.auth import Principal
from steward.kit.errors import InvalidTransition


async def pause_clock(session: AsyncSession, m: Matter, now: datetime, reason: str) -> None:
    m.paused_at = now
    m.pause_reason = reason
    await timers.disarm(session, m)


async def resume_clock(session: AsyncSession, m: Matter, now: datetime) -> int:
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
    require_status(m, [Status.FILED, Status.ACCEPTED], "return")
    if m.paused_at is None:
        await pause_clock(session, m, now, reason)
    return await apply_step(
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
    require_status(m, [Status.RETURNED], "resubmit")
    m.description = f"{m.description}\n\n【补充】{text}".strip()
    days = await resume_clock(session, m, now) if m.paused_at is not None else 0
    return await apply_step(
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
    require_status(m, [Status.ACCEPTED, Status.IN_PROGRESS], "pause")
    if m.paused_at is not None:
        raise InvalidTransition("the SLA clock is paused already", code="already_paused")
    await pause_clock(session, m, now, reason)
    return await apply_step(
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
    require_status(m, [Status.ACCEPTED, Status.IN_PROGRESS], "resume")
    if m.paused_at is None:
        raise InvalidTransition("the SLA clock is not paused", code="not_paused")
    days = await resume_clock(session, m, now)
    return await apply_step(
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
