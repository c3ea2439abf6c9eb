"""Agents' weekly work report (seed 004 代办员制度 八.2: every Thursday afternoon agents report the
week's progress on their procedures and the problems met): a schedule for agents, not projects,
due on the rules' weekday and moved earlier on a holiday like every report."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.registry_office import AgentReportSubmitted
from steward.kit.auth import Principal
from steward.kit.changes import record_change
from steward.kit.db import utcnow
from steward.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from steward.kit.tenancy import ancestry_of, ensure_visible
from steward.registry.agentreports.models import AgentReport
from steward.registry.agentreports.schemas import (
    AgentDraftOut,
    AgentProject,
    AgentReportIn,
    AgentReportOut,
    AgentStatusOut,
    AgentStatusRow,
    WeekMatter,
    WeekMilestone,
)
from steward.registry.milestones.models import Milestone
from steward.registry.projects.models import Project
from steward.registry.reports import schedule as sched
from steward.registry.rosters.models import Assignment
from steward.registry.rules.service import rules_of
from steward.registry.settings import SOURCE
from steward.registry.tenants.service import get_visible_tenant
from steward.registry.units.models import Person
from steward.rules.reports import ReportSchedule

AGENT_ROLE = "agent"


async def agent_schedule(session: AsyncSession, tenant: str) -> tuple[ReportSchedule, sched.WorkingCalendar]:
    doc = await rules_of(session, tenant)
    if doc.reports.agent_weekly is None:
        raise ValidationFailed(
            f"{tenant} has no agents' weekly report (rules reports.agent_weekly)", code="no_agent_schedule"
        )
    return doc.reports.agent_weekly, sched.calendar_for(doc)


async def agents_of(session: AsyncSession, tenant: str) -> list[Person]:
    """People of ``tenant`` holding a current agent place on some project's roster."""
    stmt = (
        select(Person)
        .join(Assignment, col(Assignment.person_id) == col(Person.id))
        .where(
            Person.tenant_code == tenant,
            Assignment.role_key == AGENT_ROLE,
            col(Assignment.ended_at).is_(None),
        )
        .distinct()
        .order_by(col(Person.name), col(Person.id))
    )
    return list((await session.exec(stmt)).all())


async def _me(session: AsyncSession, principal: Principal) -> Person:
    person = (await session.exec(select(Person).where(Person.subject == principal.subject))).first()
    if person is None:
        raise Forbidden("only a registered agent writes the agents' weekly report", code="not_an_agent")
    return person


async def _person(session: AsyncSession, principal: Principal, person_id: uuid.UUID | None) -> Person:
    if person_id is None:
        return await _me(session, principal)
    person = await session.get(Person, person_id)
    if person is None or principal.is_enterprise:
        raise NotFound("person not found")
    ensure_visible(principal, ancestry_of(person.tenant_path), what="person")
    return person


async def _week_projects(session: AsyncSession, person: Person, period: sched.Period) -> list[AgentProject]:
    projects = (
        await session.exec(
            select(Project)
            .join(Assignment, col(Assignment.project_id) == col(Project.id))
            .where(
                Assignment.person_id == person.id,
                Assignment.role_key == AGENT_ROLE,
                col(Assignment.ended_at).is_(None),
            )
            .distinct()
            .order_by(col(Project.code))
        )
    ).all()
    out = []
    for p in projects:
        ms = (
            await session.exec(
                select(Milestone)
                .where(Milestone.project_id == p.id)
                .where(
                    (col(Milestone.planned_date).between(period.start, period.end))
                    | (col(Milestone.actual_date).between(period.start, period.end))
                )
                .order_by(col(Milestone.seq))
            )
        ).all()
        out.append(
            AgentProject(
                project_id=p.id,
                code=p.code,
                name=p.name,
                stage=p.stage,
                milestones=[
                    WeekMilestone(name=m.name, planned_date=m.planned_date, actual_date=m.actual_date)
                    for m in ms
                ],
            )
        )
    return out


@dataclass(frozen=True)
class AgentWeek:
    """Who and which week, read before the matters are asked of the issues service."""

    subject: str | None
    name: str
    start: date
    end: date


async def my_week(session: AsyncSession, *, principal: Principal, period_key: str) -> AgentWeek:
    person = await _me(session, principal)
    schedule, cal = await agent_schedule(session, person.tenant_code)
    p = sched.period(schedule, cal, period_key)
    return AgentWeek(subject=person.subject, name=person.name, start=p.start, end=p.end)


async def draft(
    session: AsyncSession, *, principal: Principal, person_id: uuid.UUID | None, period_key: str
) -> tuple[AgentDraftOut, AgentWeek]:
    """The week's report pre-filled from the agent's projects and their milestones of the week (the
    matters of the week are added by the caller, outside the transaction)."""
    person = await _person(session, principal, person_id)
    schedule, cal = await agent_schedule(session, person.tenant_code)
    p = sched.period(schedule, cal, period_key)
    out = AgentDraftOut(
        person_id=person.id,
        person_name=person.name,
        period=p.key,
        start=p.start,
        end=p.end,
        due_at=p.due_at,
        shifted=p.shifted,
        shift_reason=p.shift_reason,
        projects=await _week_projects(session, person, p),
    )
    return out, AgentWeek(subject=person.subject, name=person.name, start=p.start, end=p.end)


async def submit(
    session: AsyncSession,
    *,
    principal: Principal,
    data: AgentReportIn,
    matters: list[WeekMatter] | None = None,
    now: datetime | None = None,
) -> AgentReport:
    person = await _me(session, principal)
    schedule, cal = await agent_schedule(session, person.tenant_code)
    p = sched.period(schedule, cal, data.period)
    now = now or utcnow()
    if p.start > now.astimezone(p.due_at.tzinfo).date():
        raise ValidationFailed(f"week {p.key} has not started yet", code="period_not_started")
    taken = (
        await session.exec(
            select(AgentReport.id).where(AgentReport.person_id == person.id, AgentReport.period_key == p.key)
        )
    ).first()
    if taken is not None:
        raise Conflict(f"the report for {p.key} was already submitted", code="already_submitted")
    projects = await _week_projects(session, person, p)
    notes = {n.project_id: n.note for n in data.notes}
    unknown = set(notes) - {x.project_id for x in projects}
    if unknown:
        raise ValidationFailed("notes name projects that are not yours", code="not_your_project")
    for x in projects:
        x.note = notes.get(x.project_id, "")
    late = now >= p.due_at
    report = AgentReport(
        person_id=person.id,
        tenant_code=person.tenant_code,
        tenant_path=person.tenant_path,
        period_key=p.key,
        due_at=p.due_at,
        submitted_at=now,
        submitted_by=principal.subject,
        late=late,
        delay_seconds=int((now - p.due_at).total_seconds()) if late else 0,
        progress_text=data.progress_text,
        problems_text=data.problems_text,
        projects=[x.model_dump(mode="json") for x in projects],
        matters=[m.model_dump(mode="json", by_alias=True) for m in matters or []],
    )
    session.add(report)
    await session.flush()
    await record_change(
        session,
        actor=principal.subject,
        tenant=person.tenant_code,
        action="agent_report.submit",
        entity="agent_report",
        entity_id=str(report.id),
        changes={"period": p.key, "late": late},
        event=AgentReportSubmitted(
            report_id=str(report.id),
            person_id=str(person.id),
            person_name=person.name,
            period=p.key,
            due_at=p.due_at,
            late=late,
            delay_seconds=report.delay_seconds,
        ),
        source=SOURCE,
        subject=str(person.id),
    )
    return report


async def status(
    session: AsyncSession,
    *,
    principal: Principal,
    tenant: str | None,
    period_key: str,
    now: datetime | None = None,
) -> AgentStatusOut:
    t = await get_visible_tenant(session, principal=principal, code=tenant or principal.tenant)
    if principal.is_enterprise:
        raise Forbidden("enterprise contacts do not see agents' reports")
    schedule, cal = await agent_schedule(session, t.code)
    p = sched.period(schedule, cal, period_key)
    now = now or utcnow()
    agents = await agents_of(session, t.code)
    reports = {
        r.person_id: r
        for r in (
            await session.exec(
                select(AgentReport).where(
                    col(AgentReport.person_id).in_([a.id for a in agents]), AgentReport.period_key == p.key
                )
            )
        ).all()
    }
    rows = []
    for a in agents:
        r = reports.get(a.id)
        state = ("late" if r.late else "on_time") if r else ("missing" if now >= p.due_at else "pending")
        rows.append(
            AgentStatusRow(
                person_id=a.id,
                person_name=a.name,
                tenant=a.tenant_code,
                status=state,  # type: ignore[arg-type]
                report_id=r.id if r else None,
                delay_seconds=r.delay_seconds if r else 0,
            )
        )
    return AgentStatusOut(tenant=t.code, period=p.key, due_at=p.due_at, items=rows)


def to_out(r: AgentReport) -> AgentReportOut:
    return AgentReportOut(
        id=r.id,
        person_id=r.person_id,
        period=r.period_key,
        due_at=r.due_at,
        submitted_at=r.submitted_at,
        late=r.late,
        delay_seconds=r.delay_seconds,
        progress_text=r.progress_text,
        problems_text=r.problems_text,
        projects=[AgentProject.model_validate(x) for x in r.projects],
        matters=[WeekMatter.model_validate(x) for x in r.matters],
    )
