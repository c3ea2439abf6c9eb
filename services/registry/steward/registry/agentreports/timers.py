"""Agents' weekly report timers: the reports planner arms, per tenant with agents and week, an
``agent_report.overdue`` timer at the due time; it fires once (SKIP LOCKED) and each notice is first
inserted into ``agent_report_notices`` — only a new row produces the event, so a re-armed timer or a
second replica never reports one agent's week twice."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.registry_office import AgentReportOverdue
from steward.kit import timers
from steward.kit.db import utcnow
from steward.kit.outbox import emit
from steward.registry.agentreports.models import AgentReport, AgentReportNotice
from steward.registry.agentreports.service import AGENT_ROLE, agents_of
from steward.registry.reports import schedule as sched
from steward.registry.rosters.models import Assignment
from steward.registry.rules.service import rules_of
from steward.registry.settings import SOURCE
from steward.registry.units.models import Person

OVERDUE_TIMER = "agent_report.overdue"
HORIZON = timedelta(days=8)
LOOKBACK = timedelta(days=2)


async def plan_all(session: AsyncSession, *, now: datetime) -> int:
    """Arm the coming weeks' overdue timers of every tenant that has agents (called by the planner)."""
    tenants = (
        await session.exec(
            select(Person.tenant_code)
            .join(Assignment, col(Assignment.person_id) == col(Person.id))
            .where(Assignment.role_key == AGENT_ROLE, col(Assignment.ended_at).is_(None))
            .distinct()
        )
    ).all()
    armed = 0
    for tenant in tenants:
        doc = await rules_of(session, tenant)
        schedule = doc.reports.agent_weekly
        if schedule is None:
            continue
        cal = sched.calendar_for(doc)
        for p in sched.periods_due_between(schedule, cal, (now - LOOKBACK).date(), (now + HORIZON).date()):
            await arm(session, tenant=tenant, period_key=p.key, due_at=p.due_at)
            armed += 1
    return armed


async def arm(session: AsyncSession, *, tenant: str, period_key: str, due_at: datetime) -> None:
    await timers.schedule(
        session,
        kind=OVERDUE_TIMER,
        key=f"{tenant}|{period_key}",
        tenant=tenant,
        due_at=due_at,
        payload={"period": period_key},
    )


async def on_overdue(session: AsyncSession, timer: timers.DueTimer) -> timers.Rearm | None:
    doc = await rules_of(session, timer.tenant)
    schedule = doc.reports.agent_weekly
    if schedule is None:
        return None  # the tenant's rules dropped the agents' report meanwhile
    p = sched.period(schedule, sched.calendar_for(doc), str(timer.payload["period"]))
    if p.due_at > timers.now() + timedelta(minutes=1):
        return timers.Rearm(p.due_at)  # the rules moved the due time later
    agents = await agents_of(session, timer.tenant)
    if not agents:
        return None
    have = set(
        (
            await session.exec(
                select(AgentReport.person_id).where(
                    col(AgentReport.person_id).in_([a.id for a in agents]), AgentReport.period_key == p.key
                )
            )
        ).all()
    )
    missing = [a for a in agents if a.id not in have]
    if not missing:
        return None
    stmt = (
        insert(AgentReportNotice)
        .values(
            [{"person_id": a.id, "period_key": p.key, "kind": "overdue", "at": utcnow()} for a in missing]
        )
        .on_conflict_do_nothing()
        .returning(col(AgentReportNotice.person_id))
    )
    fresh = set((await session.execute(stmt)).scalars())
    for a in missing:
        if a.id in fresh:
            await emit(
                session,
                AgentReportOverdue(person_id=str(a.id), person_name=a.name, period=p.key, due_at=p.due_at),
                tenant=a.tenant_code,
                source=SOURCE,
                subject=str(a.id),
            )
    return None
