"""Due timers of a matter (kit timer rows, claimed with SKIP LOCKED: replicas never fire one twice;
a sweep reads only what is due). Kinds, keyed by the matter id:

* ``issues.overdue`` at the deadline → ``matter.overdue`` once per deadline, then arms escalation;
* ``issues.escalate`` N working days after the deadline (rules) → one tier up along the tenant tree;
* ``issues.reminder`` 催办 before the deadline, on the due day and every N working days while overdue;
* ``issues.answer`` difficult matters: the answer is due within N working days.

Handlers lock the matter row and re-check its state, so a timer that lost a race with a user action
(resolved, paused, deadline moved) does nothing. They lock with NOWAIT: a matter that a user request
holds makes the timer back off and retry (the kit worker's backoff) instead of deadlocking with the
request, which takes the matter first and then deletes or moves its timers.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events import issues as ev
from steward.issues import metrics
from steward.issues.context import IssuesContext
from steward.issues.matters import deadlines as dl
from steward.issues.matters.events import matter_event, publish, record
from steward.issues.matters.models import OPEN_STATUSES, Matter
from steward.kit.timers import DueTimer, Rearm, cancel, schedule

OVERDUE = "issues.overdue"
ESCALATE = "issues.escalate"
REMINDER = "issues.reminder"
ANSWER = "issues.answer"
SYSTEM = "system:issues"


async def arm(session: AsyncSession, m: Matter, *, now: datetime, fresh: bool = False) -> None:
    """(Re)arm the deadline timers of an open, running matter for its current deadline (``fresh``:
    a matter filed in this transaction, which has no timer to cancel)."""
    key = str(m.id)
    await schedule(session, kind=OVERDUE, key=key, tenant=m.tenant_code, due_at=m.due_at)
    nxt = dl.next_reminder(m.policy, m.due_at, now)
    if nxt is not None:
        await schedule(session, kind=REMINDER, key=key, tenant=m.tenant_code, due_at=nxt)
    elif not fresh:
        await cancel(session, kind=REMINDER, key=key)
    if m.answer_due_at is not None and m.answered_at is None:
        await schedule(session, kind=ANSWER, key=key, tenant=m.tenant_code, due_at=m.answer_due_at)


async def disarm(session: AsyncSession, m: Matter) -> None:
    key = str(m.id)
    for kind in (OVERDUE, ESCALATE, REMINDER, ANSWER):
        await cancel(session, kind=kind, key=key)


async def escalate(
    session: AsyncSession,
    m: Matter,
    *,
    to_tier: str,
    now: datetime,
    actor: str,
    reason: str,
    automatic: bool,
    cancel_timer: bool = True,
) -> None:
    """Move the matter one tier up: the tenant tree decides who handles it; a fresh SLA at that tier."""
    from_tier, from_tenant = m.tier, m.handling_tenant
    m.tier = to_tier
    m.handling_tenant = dl.tenant_for_tier(m.ancestry, to_tier)
    m.escalations += 1
    if m.policy.get("reset_on_escalation", True):
        m.sla_days = int(m.policy["sla"][to_tier])
        m.due_at = dl.deadline(dl.calendar_of(m.policy), now, m.sla_days)
        m.overdue = False
        m.overdue_at = None
    m.updated_at = now
    m.row_version += 1
    await record(
        session,
        m,
        actor=actor,
        action="escalated",
        at=now,
        from_status=m.status,
        to_status=m.status,
        reason=reason,
        data={
            "from_tier": from_tier,
            "to_tier": to_tier,
            "from_tenant": from_tenant,
            "to_tenant": m.handling_tenant,
            "automatic": automatic,
            "due_at": m.due_at.isoformat(),
        },
        event=matter_event(
            m,
            ev.MatterEscalated,
            from_tier=from_tier,
            to_tier=to_tier,
            from_tenant=from_tenant,
            to_tenant=m.handling_tenant,
            automatic=automatic,
            reason=reason,
        ),
    )
    metrics.ESCALATIONS.labels(m.kind, "auto" if automatic else "manual").inc()
    if cancel_timer:  # never from the escalation timer's own handler: the worker owns that row
        await cancel(session, kind=ESCALATE, key=str(m.id))
    if not m.overdue and m.paused_at is None:
        await arm(session, m, now=now)


class MatterTimers:
    """Timer handlers bound to the service context (its clock)."""

    def __init__(self, ctx: IssuesContext) -> None:
        self.ctx = ctx

    async def _running(self, session: AsyncSession, timer: DueTimer) -> Matter | None:
        m = (
            await session.exec(
                select(Matter).where(Matter.id == uuid.UUID(timer.key)).with_for_update(nowait=True)
            )
        ).first()
        if m is None or m.status not in OPEN_STATUSES or m.paused_at is not None:
            return None
        return m

    async def on_overdue(self, session: AsyncSession, timer: DueTimer) -> Rearm | None:
        m = await self._running(session, timer)
        if m is None or m.overdue:
            return None
        now = self.ctx.clock()
        if m.due_at > now:  # the deadline moved later since the timer was armed
            return Rearm(m.due_at)
        m.overdue = True
        m.ever_overdue = True
        m.overdue_at = now
        m.updated_at = now
        await record(
            session,
            m,
            actor=SYSTEM,
            action="overdue",
            at=now,
            from_status=m.status,
            to_status=m.status,
            data={"due_at": m.due_at.isoformat(), "tier": m.tier},
            event=matter_event(m, ev.MatterOverdue, overdue_since=m.due_at),
        )
        after = m.policy.get("auto_escalate_after")
        if after is not None and dl.next_tier(m.policy, m.tier) is not None:
            at = dl.escalate_at(dl.calendar_of(m.policy), m.due_at, int(after))
            await schedule(session, kind=ESCALATE, key=str(m.id), tenant=m.tenant_code, due_at=at)
        return None

    async def on_escalate(self, session: AsyncSession, timer: DueTimer) -> Rearm | None:
        m = await self._running(session, timer)
        if m is None or not m.overdue:
            return None
        to_tier = dl.next_tier(m.policy, m.tier)
        if to_tier is None:
            return None
        now = self.ctx.clock()
        days = dl.working_days_overdue(dl.calendar_of(m.policy), m.due_at, now)
        await escalate(
            session,
            m,
            to_tier=to_tier,
            now=now,
            actor=SYSTEM,
            automatic=True,
            reason=f"逾期{days}个工作日未办结，自动升级至上一级（{to_tier}）",
            cancel_timer=False,
        )
        if m.overdue:  # no fresh deadline at the new tier: keep climbing after the same delay
            after = int(m.policy.get("auto_escalate_after") or 0)
            if dl.next_tier(m.policy, m.tier) is not None:
                return Rearm(dl.escalate_at(dl.calendar_of(m.policy), dl.end_of(dl.local_date(now)), after))
        return None

    async def on_reminder(self, session: AsyncSession, timer: DueTimer) -> Rearm | None:
        m = await self._running(session, timer)
        if m is None:
            return None
        now = self.ctx.clock()
        phase, days = dl.phase_at(m.policy, m.due_at, now)
        await publish(session, m, ev.MatterReminderDue, actor=SYSTEM, phase=phase, working_days=days)
        nxt = dl.next_reminder(m.policy, m.due_at, now)
        return Rearm(nxt) if nxt is not None else None

    async def on_answer(self, session: AsyncSession, timer: DueTimer) -> Rearm | None:
        m = await self._running(session, timer)
        if m is None or m.answered_at is not None or m.answer_due_at is None:
            return None
        now = self.ctx.clock()
        if m.answer_due_at > now:
            return Rearm(m.answer_due_at)
        days = dl.working_days_overdue(dl.calendar_of(m.policy), m.answer_due_at, now)
        await record(
            session,
            m,
            actor=SYSTEM,
            action="answer_overdue",
            at=now,
            data={"answer_due_at": m.answer_due_at.isoformat()},
            event=matter_event(m, ev.MatterReminderDue, phase="answer_overdue", working_days=max(1, days)),
        )

        return None

    def handlers(self) -> dict[str, object]:
        return {
            OVERDUE: self.on_overdue,
            ESCALATE: self.on_escalate,
            REMINDER: self.on_reminder,
            ANSWER: self.on_answer,
        }
