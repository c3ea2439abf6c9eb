"""Report timers: a self-rearming planner arms, per tenant, schedule and period, a ``report.due_soon``
timer at each reminder time and a ``report.overdue`` timer at the due time. Each fires for the
tenant's projects that owe the report and have not sent it.

Once-only: the timer row is claimed with SKIP LOCKED (one replica fires it), and every notice is
first inserted into ``report_notices`` keyed by (project, schedule, period, kind) — only a row that
was actually inserted produces an event, so a re-armed timer or a second replica never publishes
``report.overdue`` twice for one project and period."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.registry import ReportDueSoon, ReportOverdue
from steward.kit import timers
from steward.kit.db import Database, utcnow
from steward.kit.outbox import emit
from steward.registry.agentreports import timers as agent_timers
from steward.registry.milestones import service as milestones
from steward.registry.projects.models import Project
from steward.registry.reports import schedule as sched
from steward.registry.reports.models import ProgressReport, ReportNotice
from steward.registry.reports.service import applies
from steward.registry.rules.service import rules_of
from steward.registry.servicelog import compliance
from steward.registry.settings import SOURCE
from steward.rules.reports import ReportSchedule

PLAN_TIMER = "registry.plan"
OVERDUE_TIMER = "report.overdue"
DUE_SOON_TIMER = "report.due_soon"
PLAN_EVERY = timedelta(hours=1)
HORIZON = timedelta(days=8)
LOOKBACK = timedelta(days=2)  # re-arm recently passed due times (a replica may have been down)


async def arm_planner(db: Database) -> None:
    """Arm the planner now (idempotent; every replica may call it at start)."""
    async with db.transaction() as session:
        await timers.schedule(session, kind=PLAN_TIMER, key="all", tenant="*", due_at=utcnow())


async def arm_period(
    session: AsyncSession,
    *,
    tenant: str,
    schedule: ReportSchedule,
    period: sched.Period,
    cal: sched.WorkingCalendar,
    now: datetime,
) -> None:
    """Arm the overdue timer and the reminders of one period of one tenant's schedule."""
    base = f"{tenant}|{schedule.key}|{period.key}"
    payload = {"schedule_key": schedule.key, "period": period.key}
    await timers.schedule(
        session, kind=OVERDUE_TIMER, key=base, tenant=tenant, due_at=period.due_at, payload=payload
    )
    for n, at in sched.reminder_times(schedule, cal, period):
        if at > now - timedelta(hours=1):
            await timers.schedule(
                session,
                kind=DUE_SOON_TIMER,
                key=f"{base}|{n}",
                tenant=tenant,
                due_at=at,
                payload={**payload, "n": n},
            )


async def plan_tenant(session: AsyncSession, *, tenant: str, now: datetime) -> int:
    doc = await rules_of(session, tenant)
    cal = sched.calendar_for(doc)
    armed = 0
    for s in doc.reports.schedules:
        for p in sched.periods_due_between(s, cal, (now - LOOKBACK).date(), (now + HORIZON).date()):
            if p.due_at < now - LOOKBACK:
                continue
            await arm_period(session, tenant=tenant, schedule=s, period=p, cal=cal, now=now)
            armed += 1
    return armed


async def on_plan(session: AsyncSession, timer: timers.DueTimer) -> timers.Rearm:
    now = timers.now()  # the service's clock (tests, dev platform clock)
    tenants = (
        await session.exec(select(Project.tenant_code).where(Project.stage != "terminated").distinct())
    ).all()
    for tenant in tenants:
        await plan_tenant(session, tenant=tenant, now=now)
        await compliance.plan_tenant(session, tenant=tenant, now=now)
    await agent_timers.plan_all(session, now=now)
    return timers.Rearm(now + PLAN_EVERY)


async def owing(
    session: AsyncSession, *, tenant: str, schedule: ReportSchedule, period: sched.Period
) -> list[Project]:
    """Projects of ``tenant`` (its own, not its subtree: each tenant's rules apply to its projects) that
    owe a report for ``period`` and have none."""
    projects = list(
        (
            await session.exec(
                select(Project).where(
                    Project.tenant_code == tenant,
                    Project.stage != "terminated",
                    col(Project.created_at) <= period.due_at,
                )
            )
        ).all()
    )
    reached = await milestones.reached_keys(session, project_ids=[p.id for p in projects])
    needed = [p for p in projects if applies(schedule, p, reached.get(p.id))]
    if not needed:
        return []
    have = set(
        (
            await session.exec(
                select(ProgressReport.project_id).where(
                    col(ProgressReport.project_id).in_([p.id for p in needed]),
                    ProgressReport.schedule_key == schedule.key,
                    ProgressReport.period_key == period.key,
                )
            )
        ).all()
    )
    return [p for p in needed if p.id not in have]


async def claim_notices(
    session: AsyncSession, *, projects: list[Project], schedule_key: str, period_key: str, kind: str
) -> set[uuid.UUID]:
    """Insert notice rows; returns the projects whose row is new (only those get an event)."""
    if not projects:
        return set()
    stmt = (
        insert(ReportNotice)
        .values(
            [
                {
                    "project_id": p.id,
                    "schedule_key": schedule_key,
                    "period_key": period_key,
                    "kind": kind,
                    "at": utcnow(),
                }
                for p in projects
            ]
        )
        .on_conflict_do_nothing()
        .returning(col(ReportNotice.project_id))
    )
    return set((await session.execute(stmt)).scalars())


async def _resolve(
    session: AsyncSession, timer: timers.DueTimer
) -> tuple[ReportSchedule, sched.Period] | None:
    doc = await rules_of(session, timer.tenant)
    schedule = next((s for s in doc.reports.schedules if s.key == timer.payload.get("schedule_key")), None)
    if schedule is None:
        return None  # the schedule was removed from the rules meanwhile
    return schedule, sched.period(schedule, sched.calendar_for(doc), str(timer.payload["period"]))


async def on_overdue(session: AsyncSession, timer: timers.DueTimer) -> timers.Rearm | None:
    resolved = await _resolve(session, timer)
    if resolved is None:
        return None
    schedule, period = resolved
    if period.due_at > timers.now() + timedelta(minutes=1):
        return timers.Rearm(period.due_at)  # the rules moved the due time later
    missing = await owing(session, tenant=timer.tenant, schedule=schedule, period=period)
    fresh = await claim_notices(
        session, projects=missing, schedule_key=schedule.key, period_key=period.key, kind="overdue"
    )
    for p in missing:
        if p.id in fresh:
            await emit_overdue(session, project=p, schedule_key=schedule.key, period=period)
    return None


async def emit_overdue(
    session: AsyncSession, *, project: Project, schedule_key: str, period: sched.Period
) -> None:
    await emit(
        session,
        ReportOverdue(
            project_id=str(project.id),
            code=project.code,
            schedule_key=schedule_key,
            period=period.key,
            due_at=period.due_at,
        ),
        tenant=project.tenant_code,
        source=SOURCE,
        subject=str(project.id),
    )


async def on_due_soon(session: AsyncSession, timer: timers.DueTimer) -> None:
    resolved = await _resolve(session, timer)
    if resolved is None:
        return None
    schedule, period = resolved
    if timers.now() >= period.due_at:
        return None
    n = int(timer.payload.get("n", 0))
    missing = await owing(session, tenant=timer.tenant, schedule=schedule, period=period)
    fresh = await claim_notices(
        session, projects=missing, schedule_key=schedule.key, period_key=period.key, kind=f"due_soon:{n}"
    )
    for p in missing:
        if p.id in fresh:
            await emit(
                session,
                ReportDueSoon(
                    project_id=str(p.id),
                    code=p.code,
                    schedule_key=schedule.key,
                    period=period.key,
                    due_at=period.due_at,
                    working_days_before=n,
                ),
                tenant=p.tenant_code,
                source=SOURCE,
                subject=str(p.id),
            )
    return None
