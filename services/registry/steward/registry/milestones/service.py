"""Network plan (挂图作战): milestones per project, planned vs actual, delay timers, Gantt JSON and the
plan's completion percentage."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.registry import MilestoneDelayed, MilestoneReached
from steward.kit import audit, timers
from steward.kit.auth import Principal, Role
from steward.kit.calendar import DEFAULT_TZ
from steward.kit.db import utcnow
from steward.kit.errors import Forbidden, NotFound, ValidationFailed
from steward.kit.outbox import emit
from steward.kit.tenancy import ancestry_of, ensure_visible, ensure_writable
from steward.registry.milestones.models import Milestone
from steward.registry.milestones.schemas import (
    GanttTask,
    MilestoneIn,
    MilestoneOut,
    MilestoneStatus,
    MilestoneUpdate,
    PlanOut,
)
from steward.registry.projects.models import Project
from steward.registry.projects.service import get_project
from steward.registry.rosters.models import Assignment
from steward.registry.settings import SOURCE
from steward.registry.units.models import Person, Unit

DELAY_TIMER = "milestone.delayed"
PLANNERS = (
    Role.PLATFORM_ADMIN,
    Role.TENANT_ADMIN,
    Role.DISPATCHER,
    Role.SPECIALIST,
    Role.STEWARD,
    Role.AGENT,
)


def today() -> date:
    return utcnow().astimezone(DEFAULT_TZ).date()


def delay_due(planned: date) -> datetime:
    """A milestone is delayed once its planned day is over (00:00 local the day after)."""
    return datetime.combine(planned + timedelta(days=1), time(0), tzinfo=DEFAULT_TZ)


def status_of(m: Milestone, as_of: date) -> tuple[MilestoneStatus, int]:
    if m.actual_date is not None:
        late = (m.actual_date - m.planned_date).days
        return ("done_late", late) if late > 0 else ("done", 0)
    if as_of > m.planned_date:
        return "delayed", (as_of - m.planned_date).days
    return "open", 0


async def _ensure_planner(session: AsyncSession, principal: Principal, project: Project) -> None:
    ensure_writable(principal, ancestry_of(project.tenant_path))
    if principal.is_enterprise:
        raise Forbidden("enterprise contacts report milestone dates through progress reports")
    if principal.has(*PLANNERS):
        return
    on_roster = (
        await session.exec(
            select(Assignment.id)
            .join(Person, col(Person.id) == col(Assignment.person_id))
            .where(
                Person.subject == principal.subject,
                Assignment.project_id == project.id,
                col(Assignment.ended_at).is_(None),
            )
        )
    ).first()
    if on_roster is None:
        raise Forbidden("requires a planning role or a place on the project's roster", code="role_required")


async def _check_owner(session: AsyncSession, principal: Principal, unit_id: uuid.UUID | None) -> None:
    if unit_id is None:
        return
    unit = await session.get(Unit, unit_id)
    if unit is None:
        raise ValidationFailed("owner unit not found", code="unknown_unit")
    ensure_visible(principal, ancestry_of(unit.tenant_path), what="unit")


async def create(
    session: AsyncSession, *, principal: Principal, id_or_code: str, items: list[MilestoneIn]
) -> list[Milestone]:
    project = await get_project(session, principal=principal, id_or_code=id_or_code, lock=True)
    await _ensure_planner(session, principal, project)
    last = (
        await session.execute(
            sa.select(sa.func.max(Milestone.seq)).where(col(Milestone.project_id) == project.id)
        )
    ).scalar() or 0
    out = []
    for i, item in enumerate(items, start=1):
        await _check_owner(session, principal, item.owner_unit_id)
        m = Milestone(
            project_id=project.id,
            tenant_code=project.tenant_code,
            tenant_path=project.tenant_path,
            key=item.key,
            name=item.name,
            seq=last + i,
            planned_start=item.planned_start,
            planned_date=item.planned_date,
            owner_unit_id=item.owner_unit_id,
            weight=item.weight,
            created_by=principal.subject,
        )
        session.add(m)
        out.append(m)
    await session.flush()
    for m in out:
        await timers.schedule(
            session, kind=DELAY_TIMER, key=str(m.id), tenant=m.tenant_code, due_at=delay_due(m.planned_date)
        )
    await audit.record(
        session,
        actor=principal.subject,
        tenant=project.tenant_code,
        action="milestones.create",
        entity="project",
        entity_id=str(project.id),
        changes={"milestones": [i.model_dump(mode="json") for i in items]},
    )
    return out


async def get_milestone(
    session: AsyncSession, *, principal: Principal, project: Project, milestone_id: uuid.UUID
) -> Milestone:
    m = (await session.exec(select(Milestone).where(Milestone.id == milestone_id).with_for_update())).first()
    if m is None or m.project_id != project.id:
        raise NotFound("milestone not found")
    return m


async def reach(
    session: AsyncSession,
    *,
    principal: Principal,
    project: Project,
    milestone_id: uuid.UUID,
    actual_date: date,
) -> Milestone:
    """Record the actual date (from a report or the plan); cancels the delay timer."""
    m = await get_milestone(session, principal=principal, project=project, milestone_id=milestone_id)
    if actual_date > today():
        raise ValidationFailed("actual_date lies in the future", code="invalid_actual_date")
    if m.actual_date == actual_date:
        return m
    m.actual_date = actual_date
    m.row_version += 1
    await timers.cancel(session, kind=DELAY_TIMER, key=str(m.id))
    await emit(
        session,
        MilestoneReached(
            milestone_id=str(m.id),
            project_id=str(project.id),
            code=project.code,
            name=m.name,
            planned_date=m.planned_date.isoformat(),
            actual_date=actual_date.isoformat(),
            days_late=max(0, (actual_date - m.planned_date).days),
        ),
        tenant=project.tenant_code,
        source=SOURCE,
        subject=str(project.id),
        actor=principal.subject,
    )
    return m


async def update(
    session: AsyncSession,
    *,
    principal: Principal,
    id_or_code: str,
    milestone_id: uuid.UUID,
    data: MilestoneUpdate,
) -> Milestone:
    project = await get_project(session, principal=principal, id_or_code=id_or_code, lock=True)
    await _ensure_planner(session, principal, project)
    m = await get_milestone(session, principal=principal, project=project, milestone_id=milestone_id)
    given = data.model_dump(exclude_unset=True)
    changes: dict[str, list[object]] = {}
    if "name" in given and data.name:
        changes["name"] = [m.name, data.name]
        m.name = data.name
    if "owner_unit_id" in given:
        await _check_owner(session, principal, data.owner_unit_id)
        changes["owner_unit_id"] = [str(m.owner_unit_id), str(data.owner_unit_id)]
        m.owner_unit_id = data.owner_unit_id
    if "planned_date" in given and data.planned_date and data.planned_date != m.planned_date:
        if not data.reason.strip():
            raise ValidationFailed("moving a planned date needs a reason", code="reason_required")
        changes["planned_date"] = [m.planned_date.isoformat(), data.planned_date.isoformat()]
        m.planned_date = data.planned_date
        m.delayed_at = None
        if m.actual_date is None:
            await timers.schedule(
                session,
                kind=DELAY_TIMER,
                key=str(m.id),
                tenant=m.tenant_code,
                due_at=delay_due(m.planned_date),
            )
    if "actual_date" in given and data.actual_date:
        await reach(
            session, principal=principal, project=project, milestone_id=m.id, actual_date=data.actual_date
        )
        changes["actual_date"] = [None, data.actual_date.isoformat()]
    m.row_version += 1
    await audit.record(
        session,
        actor=principal.subject,
        tenant=project.tenant_code,
        action="milestones.update",
        entity="milestone",
        entity_id=str(m.id),
        changes={**changes, "reason": data.reason},
    )
    return m


async def on_delay_timer(session: AsyncSession, timer: timers.DueTimer) -> None:
    m = (
        await session.exec(select(Milestone).where(Milestone.id == uuid.UUID(timer.key)).with_for_update())
    ).first()
    if m is None or m.actual_date is not None or m.delayed_at is not None:
        return None
    now = timers.now()  # the service's clock (tests, dev platform clock)
    if delay_due(m.planned_date) > now:  # moved later meanwhile (the move re-armed it)
        return None
    project = await session.get(Project, m.project_id)
    assert project is not None
    m.delayed_at = now
    await emit(
        session,
        MilestoneDelayed(
            milestone_id=str(m.id),
            project_id=str(project.id),
            code=project.code,
            name=m.name,
            planned_date=m.planned_date.isoformat(),
            owner_unit_id=str(m.owner_unit_id) if m.owner_unit_id else None,
        ),
        tenant=project.tenant_code,
        source=SOURCE,
        subject=str(project.id),
    )
    return None


async def of_project(session: AsyncSession, *, project_id: uuid.UUID) -> list[Milestone]:
    stmt = select(Milestone).where(Milestone.project_id == project_id).order_by(col(Milestone.seq))
    return list((await session.exec(stmt)).all())


async def reached_keys(session: AsyncSession, *, project_ids: list[uuid.UUID]) -> dict[uuid.UUID, set[str]]:
    """Keys of reached milestones per project (``applies_when.from_milestone``, e.g. land_contract_signed)."""
    out: dict[uuid.UUID, set[str]] = defaultdict(set)
    if not project_ids:
        return out
    stmt = select(Milestone.project_id, Milestone.key).where(
        col(Milestone.project_id).in_(project_ids),
        col(Milestone.key).is_not(None),
        col(Milestone.actual_date).is_not(None),
    )
    for pid, key in (await session.exec(stmt)).all():
        out[pid].add(str(key))
    return out


def to_out(m: Milestone, as_of: date) -> MilestoneOut:
    status, late = status_of(m, as_of)
    return MilestoneOut(
        id=m.id,
        project_id=m.project_id,
        key=m.key,
        name=m.name,
        seq=m.seq,
        planned_start=m.planned_start,
        planned_date=m.planned_date,
        actual_date=m.actual_date,
        owner_unit_id=m.owner_unit_id,
        weight=m.weight,
        status=status,
        days_late=late,
        delayed_at=m.delayed_at,
    )


def percent(part: int, whole: int) -> Decimal:
    return percent_decimal(Decimal(part), Decimal(whole)) or Decimal("0.0")


def percent_decimal(part: Decimal, whole: Decimal) -> Decimal | None:
    """``part / whole × 100`` rounded half-up to one decimal (exact; None when ``whole`` is 0)."""
    if whole == 0:
        return None
    return (part * 100 / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


async def plan(session: AsyncSession, *, project: Project, as_of: date | None = None) -> PlanOut:
    as_of = as_of or today()
    items = await of_project(session, project_id=project.id)
    unit_ids = [m.owner_unit_id for m in items if m.owner_unit_id]
    names = (
        {u.id: u.name for u in (await session.exec(select(Unit).where(col(Unit.id).in_(unit_ids)))).all()}
        if unit_ids
        else {}
    )
    tasks = []
    previous: date | None = project.planned_start
    for m in items:
        status, late = status_of(m, as_of)
        tasks.append(
            GanttTask(
                id=m.id,
                key=m.key,
                name=m.name,
                seq=m.seq,
                start=m.planned_start or previous,
                end=m.planned_date,
                actual=m.actual_date,
                owner_unit_id=m.owner_unit_id,
                owner_unit_name=names.get(m.owner_unit_id) if m.owner_unit_id else None,
                status=status,
                days_late=late,
                weight=m.weight,
            )
        )
        previous = m.planned_date
    total = sum(m.weight for m in items)
    done = sum(m.weight for m in items if m.actual_date is not None and m.actual_date <= as_of)
    due = sum(m.weight for m in items if m.planned_date <= as_of)
    return PlanOut(
        project_id=project.id,
        project_code=project.code,
        project_name=project.name,
        as_of=as_of,
        planned_start=project.planned_start,
        planned_completion=project.planned_completion,
        completion_percent=percent(done, total),
        planned_percent=percent(due, total),
        delayed=sum(1 for t in tasks if t.status == "delayed"),
        tasks=tasks,
    )
