"""Supervision orders (督办单): supervisors order a matter's handlers to act by their own deadline;
the order's timer flags it overdue and sends a reminder (``phase=supervision_overdue``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events import issues as ev
from steward.issues.matters import deadlines as dl
from steward.issues.matters import service as matters
from steward.issues.matters import timers
from steward.issues.matters.access import ensure_worker
from steward.issues.matters.events import matter_event, record
from steward.issues.matters.models import OPEN_STATUSES, Matter
from steward.issues.supervision.models import SupervisionOrder
from steward.issues.supervision.schemas import OrderCreate
from steward.kit.auth import Principal, Role
from steward.kit.errors import Forbidden, InvalidTransition, NotFound
from steward.kit.paging import keyset_page, scoped
from steward.kit.timers import DueTimer, Rearm, cancel, schedule

TIMER = "issues.supervision"
SUPERVISORS = (Role.SUPERVISOR, Role.LEADER, Role.TENANT_ADMIN, Role.PLATFORM_ADMIN)


async def issue(
    session: AsyncSession, *, principal: Principal, key: str, body: OrderCreate, now: datetime
) -> SupervisionOrder:
    m = await matters.get(session, principal=principal, key=key, lock=True)
    if principal.is_enterprise or not principal.has(*SUPERVISORS):
        raise Forbidden("requires a supervisor or leader", code="role_required")
    if m.status not in OPEN_STATUSES:
        raise InvalidTransition(f"cannot supervise a matter that is {m.status}")
    cal = dl.calendar_of(m.policy)
    if body.due_date is not None:
        if body.due_date < dl.local_date(now):
            raise matters.bad("due_date", "the deadline is in the past")
        if (body.due_date - dl.local_date(now)).days > dl.MAX_HORIZON_DAYS:
            raise matters.bad("due_date", f"the deadline is more than {dl.MAX_HORIZON_DAYS} days ahead")
        due_at = dl.end_of(body.due_date)
    else:
        due_at = dl.deadline(cal, now, int(body.due_working_days or 1))
    o = SupervisionOrder(
        matter_id=m.id,
        tenant_code=m.tenant_code,
        tenant_path=m.tenant_path,
        issued_by=principal.subject,
        issuer_tenant=principal.tenant,
        instructions=body.instructions,
        issued_at=now,
        due_at=due_at,
    )
    session.add(o)
    await session.flush()
    await schedule(session, kind=TIMER, key=str(o.id), tenant=m.tenant_code, due_at=due_at)
    m.updated_at = now
    m.row_version += 1
    await record(
        session,
        m,
        actor=principal.subject,
        action="supervised",
        at=now,
        reason=body.instructions,
        data={"order_id": str(o.id), "order_due_at": due_at.isoformat()},
        event=matter_event(
            m,
            ev.MatterSupervised,
            order_id=str(o.id),
            order_due_at=due_at,
            instructions=body.instructions,
            issued_by=principal.subject,
        ),
    )
    return o


async def respond(
    session: AsyncSession, *, principal: Principal, order_id: uuid.UUID, text: str, now: datetime
) -> SupervisionOrder:
    o = (
        await session.exec(select(SupervisionOrder).where(SupervisionOrder.id == order_id).with_for_update())
    ).first()
    if o is None:
        raise NotFound("supervision order not found")
    m = await matters.get(session, principal=principal, key=str(o.matter_id), lock=True)
    ensure_worker(principal, m)
    if o.status != "open":
        raise InvalidTransition("the order was answered already", code="already_answered")
    o.status = "answered"
    o.response = text
    o.responded_by = principal.subject
    o.responded_at = now
    await cancel(session, kind=TIMER, key=str(o.id))
    await record(
        session,
        m,
        actor=principal.subject,
        action="supervision_answered",
        at=now,
        reason=text,
        data={"order_id": str(o.id), "on_time": now < o.due_at},
    )
    return o


async def on_due(session: AsyncSession, timer: DueTimer, now: datetime) -> Rearm | None:
    o = (
        await session.exec(
            select(SupervisionOrder)
            .where(SupervisionOrder.id == uuid.UUID(timer.key))
            .with_for_update(nowait=True)
        )
    ).first()
    if o is None or o.status != "open" or o.overdue:
        return None
    if o.due_at > now:
        return Rearm(o.due_at)
    o.overdue = True
    m = await session.get(Matter, o.matter_id)
    assert m is not None
    days = dl.working_days_overdue(dl.calendar_of(m.policy), o.due_at, now)
    await record(
        session,
        m,
        actor=timers.SYSTEM,
        action="supervision_overdue",
        at=now,
        data={"order_id": str(o.id)},
        event=matter_event(
            m,
            ev.MatterReminderDue,
            phase="supervision_overdue",
            working_days=max(1, days),
            supervision_order_id=str(o.id),
        ),
    )
    return None


async def list_orders(
    session: AsyncSession,
    *,
    principal: Principal,
    base_path: str | None,
    overdue: bool | None,
    open_only: bool,
    limit: int,
) -> list[SupervisionOrder]:
    if principal.is_enterprise:
        raise Forbidden("supervision views are for staff", code="role_required")
    stmt = scoped(select(SupervisionOrder), SupervisionOrder.tenant_path, base_path)
    if overdue is not None:
        stmt = stmt.where(SupervisionOrder.overdue == overdue)
    if open_only:
        stmt = stmt.where(SupervisionOrder.status == "open")
    order = (SupervisionOrder.issued_at, SupervisionOrder.id)
    rows, _ = await keyset_page(session, stmt, order=order, cursor=None, limit=limit)
    return rows
