"""Progress reports: submission (roster/role checks, exact money, cumulative never decreasing without
a correction record), corrections, leader sign-off, listing."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.registry import ReportSubmitted
from steward.kit.auth import Principal
from steward.kit.changes import record_change
from steward.kit.db import utcnow
from steward.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from steward.kit.paging import keyset_page, scoped
from steward.kit.tenancy import ancestry_of, ensure_writable
from steward.registry.milestones import service as milestones
from steward.registry.projects.models import Project
from steward.registry.projects.service import ensure_can_see, get_project
from steward.registry.reports import schedule as sched
from steward.registry.reports.models import ProgressReport, ReportCorrection
from steward.registry.reports.schemas import ReportIn, ReportOut, SignoffOut
from steward.registry.rosters.service import facts_of, roster_roles
from steward.registry.rules.service import rules_of
from steward.registry.settings import SOURCE
from steward.registry.tenants.service import get_visible_tenant
from steward.rules import RulesDocument
from steward.rules.reports import ReportSchedule

# roster roles whose holders may sign a report when the schedule names no signing role
LEADER_ROLES = frozenset({"commander", "leader", "responsible_leader", "guarantor_leader"})
INACTIVE_STAGES = frozenset({"terminated"})


def find_schedule(doc: RulesDocument, key: str) -> ReportSchedule:
    for s in doc.reports.schedules:
        if s.key == key:
            return s
    raise ValidationFailed(
        f"no report schedule {key!r} in this tenant's rules",
        code="unknown_schedule",
        details=[
            {
                "loc": ["schedule_key"],
                "message": f"known: {[s.key for s in doc.reports.schedules]}",
                "type": "enum",
            }
        ],
    )


def applies(schedule: ReportSchedule, project: Project, reached: set[str] | None = None) -> bool:
    """Whether ``project`` must report on ``schedule`` (rules ``applies_when``; never when terminated)."""
    if project.stage in INACTIVE_STAGES:
        return False
    facts = facts_of(project).model_copy(update={"milestones": set(reached or ())})
    return schedule.applies_when.matches(facts)


async def ensure_reporter(session: AsyncSession, principal: Principal, project: Project) -> None:
    """The project's enterprise contact (its owner unit) or anyone on its roster (steward, secretary,
    specialist, agent, commander …) may report; others get 403."""
    if principal.is_enterprise:
        return  # get_project already checked the owner unit
    if await roster_roles(session, subject=principal.subject, project_id=project.id):
        return
    raise Forbidden(
        "only the project's enterprise contact or a member of its roster may report",
        code="not_a_reporter",
    )


def delay_text(seconds: int) -> str:
    if seconds <= 0:
        return ""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}d"] if days else []
    if hours or days:
        parts.append(f"{hours}h")
    parts.append(f"{minutes}m")
    return " ".join(parts)


async def cumulative_neighbours(
    session: AsyncSession, *, project_id: uuid.UUID, due_at: datetime
) -> tuple[Decimal | None, Decimal | None]:
    """Highest cumulative reported for an earlier due time, lowest for a later one."""
    before = (
        await session.execute(
            sa.select(sa.func.max(ProgressReport.investment_cumulative)).where(
                col(ProgressReport.project_id) == project_id, col(ProgressReport.due_at) < due_at
            )
        )
    ).scalar()
    after = (
        await session.execute(
            sa.select(sa.func.min(ProgressReport.investment_cumulative)).where(
                col(ProgressReport.project_id) == project_id, col(ProgressReport.due_at) > due_at
            )
        )
    ).scalar()
    return before, after


def cumulative_error(value: Decimal, before: Decimal | None, after: Decimal | None) -> str | None:
    if before is not None and value < before:
        return f"cumulative {value:.2f} is below {before:.2f} reported for an earlier period"
    if after is not None and value > after:
        return f"cumulative {value:.2f} is above {after:.2f} reported for a later period"
    return None


async def submit(
    session: AsyncSession, *, principal: Principal, data: ReportIn, now: datetime | None = None
) -> tuple[ProgressReport, Project, ReportSchedule]:
    project = await get_project(session, principal=principal, id_or_code=data.project, lock=True)
    ensure_writable(principal, ancestry_of(project.tenant_path))
    await ensure_reporter(session, principal, project)
    doc = await rules_of(session, project.tenant_code)
    schedule = find_schedule(doc, data.schedule_key)
    reached = (await milestones.reached_keys(session, project_ids=[project.id])).get(project.id, set())
    if not applies(schedule, project, reached):
        raise ValidationFailed(
            f"project {project.code} does not report on schedule {schedule.key!r}",
            code="schedule_not_applicable",
        )
    period = sched.period(schedule, sched.calendar_for(doc), data.period)
    now = now or utcnow()
    if period.start > now.astimezone(period.due_at.tzinfo).date():
        raise ValidationFailed(f"period {period.key} has not started yet", code="period_not_started")
    existing = (
        await session.exec(
            select(ProgressReport).where(
                ProgressReport.project_id == project.id,
                ProgressReport.schedule_key == schedule.key,
                ProgressReport.period_key == period.key,
            )
        )
    ).first()
    if existing is not None:
        raise Conflict(
            f"a report for {period.key} exists; correct it instead",
            code="already_submitted",
            details=[{"loc": ["period"], "message": str(existing.id), "type": "duplicate"}],
        )
    before, after = await cumulative_neighbours(session, project_id=project.id, due_at=period.due_at)
    problem = cumulative_error(data.investment_cumulative, before, after)
    if problem and not (data.correction_reason and data.correction_reason.strip()):
        raise ValidationFailed(
            problem + "; give correction_reason to record a correction",
            code="cumulative_decreased",
            details=[{"loc": ["investment_cumulative"], "message": problem, "type": "value_error"}],
        )
    late = now > period.due_at
    delay = int((now - period.due_at).total_seconds()) if late else 0
    updates = [
        {"milestone_id": str(u.milestone_id), "actual_date": u.actual_date.isoformat()}
        for u in data.milestone_updates
    ]
    report = ProgressReport(
        project_id=project.id,
        tenant_code=project.tenant_code,
        tenant_path=project.tenant_path,
        schedule_key=schedule.key,
        period_key=period.key,
        due_at=period.due_at,
        submitted_at=now,
        submitted_by=principal.subject,
        late=late,
        delay_seconds=delay,
        investment_period=data.investment_period,
        investment_cumulative=data.investment_cumulative,
        progress_text=data.progress_text,
        problems_text=data.problems_text,
        milestone_updates=updates,
        obstacle_ids=data.obstacle_ids,
        updated_at=now,
    )
    session.add(report)
    try:
        async with session.begin_nested():
            await session.flush()
    except sa.exc.IntegrityError as exc:  # a concurrent submission of the same period won
        raise Conflict(
            f"a report for {period.key} exists; correct it instead", code="already_submitted"
        ) from exc
    if problem:
        session.add(
            ReportCorrection(
                report_id=report.id,
                changes={
                    "investment_cumulative": [None, f"{data.investment_cumulative:.2f}"],
                    "note": problem,
                },
                reason=(data.correction_reason or "").strip(),
                actor=principal.subject,
                at=now,
            )
        )
    for u in data.milestone_updates:
        await milestones.reach(
            session,
            principal=principal,
            project=project,
            milestone_id=u.milestone_id,
            actual_date=u.actual_date,
        )
    await record_change(
        session,
        actor=principal.subject,
        tenant=project.tenant_code,
        action="report.submit",
        entity="report",
        entity_id=str(report.id),
        changes=data.model_dump(mode="json"),
        event=ReportSubmitted(
            report_id=str(report.id),
            project_id=str(project.id),
            code=project.code,
            schedule_key=schedule.key,
            period=period.key,
            due_at=period.due_at,
            submitted_at=now,
            late=late,
            delay_seconds=delay,
            investment_period=f"{report.investment_period:.2f}",
            investment_cumulative=f"{report.investment_cumulative:.2f}",
        ),
        source=SOURCE,
        subject=str(project.id),
    )
    return report, project, schedule


async def get_report(
    session: AsyncSession, *, principal: Principal, report_id: uuid.UUID, lock: bool = False
) -> tuple[ProgressReport, Project]:
    stmt = select(ProgressReport).where(ProgressReport.id == report_id)
    if lock:
        stmt = stmt.with_for_update()
    report = (await session.exec(stmt)).first()
    if report is None:
        raise NotFound("report not found")
    project = await session.get(Project, report.project_id)
    assert project is not None
    ensure_can_see(principal, project)
    return report, project


async def schedule_of(session: AsyncSession, report: ProgressReport) -> ReportSchedule | None:
    doc = await rules_of(session, report.tenant_code)
    return next((s for s in doc.reports.schedules if s.key == report.schedule_key), None)


async def list_reports(
    session: AsyncSession,
    *,
    principal: Principal,
    tenant: str | None,
    project: str | None,
    schedule_key: str | None,
    period: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[tuple[ProgressReport, Project]], str | None]:
    """Newest due first; keyset pagination on (due_at, id)."""
    base = await get_visible_tenant(session, principal=principal, code=tenant or principal.tenant)
    stmt = select(ProgressReport, Project).join(Project, col(Project.id) == col(ProgressReport.project_id))
    stmt = scoped(stmt, ProgressReport.tenant_path, base.path)
    if principal.is_enterprise:
        stmt = stmt.where(Project.owner_unit_id == (uuid.UUID(principal.unit) if principal.unit else None))
    if project:
        p = await get_project(session, principal=principal, id_or_code=project)
        stmt = stmt.where(ProgressReport.project_id == p.id)
    if schedule_key:
        stmt = stmt.where(ProgressReport.schedule_key == schedule_key)
    if period:
        sched.period_kind_of(period)
        stmt = stmt.where(ProgressReport.period_key == period)
    rows, nxt = await keyset_page(
        session, stmt, order=(ProgressReport.due_at, ProgressReport.id), cursor=cursor, limit=limit
    )
    return [(r, p) for r, p in rows], nxt


def to_out(r: ProgressReport, project: Project, schedule: ReportSchedule | None) -> ReportOut:
    return ReportOut(
        id=r.id,
        project_id=project.id,
        project_code=project.code,
        tenant=r.tenant_code,
        schedule_key=r.schedule_key,
        period=r.period_key,
        due_at=r.due_at,
        submitted_at=r.submitted_at,
        submitted_by=r.submitted_by,
        status="late" if r.late else "on_time",
        delay_seconds=r.delay_seconds,
        delay=delay_text(r.delay_seconds),
        investment_period=r.investment_period,
        investment_cumulative=r.investment_cumulative,
        progress_text=r.progress_text,
        problems_text=r.problems_text,
        milestone_updates=list(r.milestone_updates),
        obstacle_ids=list(r.obstacle_ids),
        signoff=SignoffOut(
            required=bool(schedule and schedule.paper_signoff_required),
            role=schedule.paper_signoff_role if schedule else None,
            signed_by=r.signed_by,
            signed_at=r.signed_at,
            paper=r.paper_signed,
        ),
        row_version=r.row_version,
    )
