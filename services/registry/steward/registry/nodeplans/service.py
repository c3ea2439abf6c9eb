"""Node-plan templates applied to projects: generated network-plan milestones, delays pushed to
successors (docs/reports.md "Node-plan templates")."""

from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.registry import MilestonesShifted, NodePlanApplied
from steward.kit import timers
from steward.kit.auth import Principal
from steward.kit.calendar import WorkingCalendar
from steward.kit.changes import record_change
from steward.kit.errors import Conflict, NotFound, ValidationFailed
from steward.registry.milestones import service as milestones
from steward.registry.milestones.models import Milestone
from steward.registry.nodeplans import network
from steward.registry.nodeplans.schemas import ApplyIn, DelayIn, DelayOut, MovedNode, NodeOut
from steward.registry.projects.models import Project
from steward.registry.projects.service import get_project
from steward.registry.reports.schedule import calendar_for
from steward.registry.rules import service as rules
from steward.registry.settings import SOURCE
from steward.registry.tenants.service import get_visible_tenant
from steward.rules.node_plans import NodePlanTemplate


async def templates(
    session: AsyncSession, *, principal: Principal, tenant: str | None
) -> tuple[str, list[NodePlanTemplate]]:
    t = await get_visible_tenant(session, principal=principal, code=tenant or principal.tenant)
    return t.code, list((await rules.rules_of(session, t.code)).node_plans.templates)


async def _calendar(session: AsyncSession, project: Project) -> WorkingCalendar:
    return calendar_for(await rules.rules_of(session, project.tenant_code))


async def plan_rows(session: AsyncSession, *, project_id: uuid.UUID) -> list[Milestone]:
    stmt = (
        select(Milestone)
        .where(Milestone.project_id == project_id, col(Milestone.template).is_not(None))
        .order_by(col(Milestone.seq))
    )
    return list((await session.exec(stmt)).all())


async def apply(
    session: AsyncSession, *, principal: Principal, id_or_code: str, data: ApplyIn
) -> tuple[Project, str, date, list[Milestone]]:
    """Generate the project's network-plan milestones from a template of its tenant's rules."""
    project = await get_project(session, principal=principal, id_or_code=id_or_code, lock=True)
    await milestones._ensure_planner(session, principal, project)
    doc = await rules.rules_of(session, project.tenant_code)
    template = doc.node_plans.template(data.template)
    if template is None:
        raise ValidationFailed(
            f"no node-plan template {data.template!r} in the rules of {project.tenant_code}",
            code="unknown_template",
            details=[
                {
                    "loc": ["template"],
                    "message": f"known: {[t.key for t in doc.node_plans.templates]}",
                    "type": "value_error",
                }
            ],
        )
    if await plan_rows(session, project_id=project.id):
        raise Conflict("the project already has a node plan", code="node_plan_exists")
    start = data.start or project.planned_start or milestones.today()
    cal = calendar_for(doc)
    nodes = [network.Node(n.key, n.duration_days, tuple(n.after)) for n in template.nodes]
    dates = network.schedule(cal, nodes, start)
    last = (
        await session.execute(
            sa.select(sa.func.max(Milestone.seq)).where(col(Milestone.project_id) == project.id)
        )
    ).scalar() or 0
    rows = []
    for i, n in enumerate(template.nodes, start=1):
        d = dates[n.key]
        m = Milestone(
            project_id=project.id,
            tenant_code=project.tenant_code,
            tenant_path=project.tenant_path,
            key=n.key,
            name=n.name_zh,
            seq=last + i,
            planned_start=d.start,
            planned_date=d.finish,
            weight=n.weight,
            template=template.key,
            after=list(n.after),
            duration_days=n.duration_days,
            created_by=principal.subject,
        )
        session.add(m)
        rows.append(m)
    await session.flush()
    for m in rows:
        await timers.schedule(
            session,
            kind=milestones.DELAY_TIMER,
            key=str(m.id),
            tenant=m.tenant_code,
            due_at=milestones.delay_due(m.planned_date),
        )
    completion = max(m.planned_date for m in rows)
    await record_change(
        session,
        actor=principal.subject,
        tenant=project.tenant_code,
        action="node_plan.apply",
        entity="project",
        entity_id=str(project.id),
        changes={"template": template.key, "start": start.isoformat(), "nodes": len(rows)},
        event=NodePlanApplied(
            project_id=str(project.id),
            code=project.code,
            template=template.key,
            start=start.isoformat(),
            nodes=len(rows),
            planned_completion=completion.isoformat(),
        ),
        source=SOURCE,
        subject=str(project.id),
    )
    return project, template.key, start, rows


def network_of(rows: list[Milestone]) -> list[network.Node]:
    return [network.Node(m.key, m.duration_days or 0, tuple(m.after)) for m in rows if m.key]


def _back(cal: WorkingCalendar, finish: date, duration: int) -> date:
    start = finish
    for _ in range(max(duration - 1, 0)):
        start = cal.previous_working_day(start, inclusive=False)
    return start


async def move_node(
    session: AsyncSession,
    *,
    project: Project,
    rows: list[Milestone],
    cal: WorkingCalendar,
    key: str,
    new_finish: date,
) -> tuple[dict[str, network.Dates], dict[str, network.Dates]]:
    """Give node ``key`` a new planned finish (a working day): later pushes its successors (only
    them, as far as needed), earlier keeps its duration and must stay after its predecessors (the
    successors keep their dates). Rows are written and delay timers re-armed; returns the dates
    before and the nodes that moved."""
    by_key = {m.key: m for m in rows if m.key}
    nodes = network_of(rows)
    current = {k: network.Dates(m.planned_start or m.planned_date, m.planned_date) for k, m in by_key.items()}
    frozen = frozenset(k for k, m in by_key.items() if m.actual_date is not None)
    if new_finish >= current[key].finish:
        moved = network.push(cal, nodes, current, delayed=key, new_finish=new_finish, frozen=frozen)
    else:
        node = next(n for n in nodes if n.key == key)
        start = _back(cal, new_finish, node.duration)
        need = network.earliest_start(cal, start, (current[p].finish for p in node.after if p in current))
        if node.after and start < need:
            raise ValidationFailed(
                f"node {key!r} cannot start before {need.isoformat()}, after the nodes it follows",
                code="before_predecessors",
            )
        moved = {key: network.Dates(start, new_finish)}
    # lock order as the delay-timer runner's (timer row, then milestone row): re-arm first, then lock
    for k, d in moved.items():
        await timers.schedule(
            session,
            kind=milestones.DELAY_TIMER,
            key=str(by_key[k].id),
            tenant=project.tenant_code,
            due_at=milestones.delay_due(d.finish),
        )
    locked = {
        m.id: m
        for m in (
            await session.exec(
                select(Milestone)
                .where(col(Milestone.id).in_([by_key[k].id for k in moved]))
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).all()
    }
    for k, d in moved.items():
        m = locked[by_key[k].id]
        m.planned_start, m.planned_date = d.start, d.finish
        m.delayed_at = None
        m.row_version += 1
    return current, moved


def _moved(m: Milestone, old: network.Dates, cal: WorkingCalendar) -> MovedNode:
    return MovedNode(
        milestone_id=m.id,
        key=m.key,
        name=m.name,
        old_start=old.start,
        old_date=old.finish,
        new_start=m.planned_start,
        new_date=m.planned_date,
        working_days_later=cal.working_days_between(old.finish, m.planned_date),
    )


async def delay(
    session: AsyncSession, *, principal: Principal, id_or_code: str, milestone_id: uuid.UUID, data: DelayIn
) -> DelayOut:
    """Move a node's planned finish later and push its successors (only them) as far as needed."""
    project = await get_project(session, principal=principal, id_or_code=id_or_code, lock=True)
    await milestones._ensure_planner(session, principal, project)
    rows = await plan_rows(session, project_id=project.id)
    by_id = {m.id: m for m in rows}
    target = by_id.get(milestone_id)
    if target is None or target.key is None:
        raise NotFound("node not found in the project's node plan")
    if target.actual_date is not None:
        raise ValidationFailed("the node was already reached", code="node_reached")
    cal = await _calendar(session, project)
    new_finish = data.planned_date or cal.add_working_days(target.planned_date, data.working_days or 0)
    if new_finish <= target.planned_date:
        raise ValidationFailed("a delay moves the planned date later", code="not_later")
    if not cal.is_working_day(new_finish):
        new_finish = cal.next_working_day(new_finish)
    current, moved = await move_node(
        session, project=project, rows=rows, cal=cal, key=target.key, new_finish=new_finish
    )
    by_key = {m.key: m for m in rows if m.key}
    nodes = network_of(rows)
    out: list[MovedNode] = []
    changes: dict[str, list[str]] = {}
    for key, d in moved.items():
        changes[key] = [current[key].finish.isoformat(), d.finish.isoformat()]
        if key != target.key:
            out.append(_moved(by_key[key], current[key], cal))
    successors = network.successors_of(nodes, target.key)
    await record_change(
        session,
        actor=principal.subject,
        tenant=project.tenant_code,
        action="node_plan.delay",
        entity="milestone",
        entity_id=str(target.id),
        changes={"moved": changes, "reason": data.reason},
        event=MilestonesShifted(
            project_id=str(project.id),
            code=project.code,
            milestone_id=str(target.id),
            key=target.key,
            reason=data.reason,
            moved=changes,
        ),
        source=SOURCE,
        subject=str(project.id),
    )
    return DelayOut(
        delayed=_moved(target, current[target.key], cal),
        moved=sorted(out, key=lambda x: by_key[x.key or ""].seq),
        unchanged=[k for k in (m.key for m in rows) if k in successors and k not in moved],
    )


def node_out(m: Milestone) -> NodeOut:
    return NodeOut(
        milestone_id=m.id,
        key=m.key,
        name=m.name,
        after=list(m.after or []),
        duration_days=m.duration_days,
        planned_start=m.planned_start,
        planned_date=m.planned_date,
        actual_date=m.actual_date,
    )
