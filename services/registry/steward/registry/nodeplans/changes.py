"""The owner adjusts, the lead department approves: change requests to a project's planned node
dates take effect only when a unit holding the rules' approver role (牵头单位 by default) on the
project's roster approves them; a rejection carries a reason (docs/reports.md "Node-plan templates")."""

from __future__ import annotations

import uuid
from datetime import date

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.registry_office import (
    NodePlanChangeApproved,
    NodePlanChangeRejected,
    NodePlanChangeRequested,
)
from steward.kit.auth import Principal
from steward.kit.calendar import WorkingCalendar
from steward.kit.changes import record_change
from steward.kit.db import utcnow
from steward.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from steward.kit.tenancy import ancestry_of, ensure_writable
from steward.registry.milestones import service as milestones
from steward.registry.milestones.models import Milestone
from steward.registry.nodeplans import network
from steward.registry.nodeplans import service as plans
from steward.registry.nodeplans.models import NodePlanChange
from steward.registry.nodeplans.schemas import ChangeIn, ChangeItemOut, ChangeOut
from steward.registry.projects.models import Project
from steward.registry.projects.service import get_project
from steward.registry.reports.schedule import calendar_for
from steward.registry.rosters.models import Assignment
from steward.registry.rules import service as rules
from steward.registry.settings import SOURCE


async def approver_units(session: AsyncSession, project: Project) -> tuple[list[str], WorkingCalendar]:
    """The units holding the first of the rules' approver roles the project's roster has."""
    doc = await rules.rules_of(session, project.tenant_code)
    held = (
        await session.exec(
            select(Assignment.role_key, Assignment.unit_id).where(
                Assignment.project_id == project.id,
                col(Assignment.role_key).in_(doc.node_plans.change_approver_roles),
                col(Assignment.unit_id).is_not(None),
                col(Assignment.ended_at).is_(None),
            )
        )
    ).all()
    for role in doc.node_plans.change_approver_roles:
        units = sorted({str(u) for r, u in held if r == role})
        if units:
            return units, calendar_for(doc)
    return [], calendar_for(doc)


async def _ensure_owner(session: AsyncSession, principal: Principal, project: Project) -> None:
    """The project's owner: its enterprise contact (the owner unit), or whoever plans it."""
    if principal.is_enterprise:
        ensure_writable(principal, ancestry_of(project.tenant_path))
        if project.owner_unit_id is None or principal.unit != str(project.owner_unit_id):
            raise Forbidden("only the project's owner proposes node-plan changes", code="not_the_owner")
        return
    await milestones._ensure_planner(session, principal, project)


def _checked_date(cal: WorkingCalendar, d: date) -> date:
    return d if cal.is_working_day(d) else cal.next_working_day(d)


async def _open_nodes(session: AsyncSession, project: Project) -> dict[uuid.UUID, Milestone]:
    rows = await plans.plan_rows(session, project_id=project.id)
    if not rows:
        raise NotFound("the project has no node plan", code="no_node_plan")
    return {m.id: m for m in rows}


async def request(
    session: AsyncSession, *, principal: Principal, id_or_code: str, data: ChangeIn
) -> NodePlanChange:
    project = await get_project(session, principal=principal, id_or_code=id_or_code, lock=True)
    await _ensure_owner(session, principal, project)
    units, cal = await approver_units(session, project)
    if not units:
        raise ValidationFailed(
            "the project's roster names no lead department to approve node-plan changes",
            code="no_lead_department",
        )
    pending = (
        await session.exec(
            select(NodePlanChange.id).where(
                NodePlanChange.project_id == project.id, NodePlanChange.status == "pending"
            )
        )
    ).first()
    if pending is not None:
        raise Conflict("a node-plan change of this project awaits a decision", code="change_pending")
    nodes = await _open_nodes(session, project)
    items: list[dict[str, str]] = []
    seen: set[uuid.UUID] = set()
    for it in data.items:
        m = nodes.get(it.milestone_id)
        if m is None or m.key is None:
            raise NotFound("node not found in the project's node plan")
        if it.milestone_id in seen:
            raise ValidationFailed(f"node {m.key!r} is named twice", code="duplicate_node")
        seen.add(it.milestone_id)
        if m.actual_date is not None:
            raise ValidationFailed(f"node {m.key!r} was already reached", code="node_reached")
        new = _checked_date(cal, it.planned_date)
        if new == m.planned_date:
            raise ValidationFailed(f"node {m.key!r} is already planned for {new}", code="no_change")
        items.append(
            {
                "milestone_id": str(m.id),
                "key": m.key,
                "name": m.name,
                "old_date": m.planned_date.isoformat(),
                "planned_date": new.isoformat(),
            }
        )
    change = NodePlanChange(
        project_id=project.id,
        tenant_code=project.tenant_code,
        tenant_path=project.tenant_path,
        status="pending",
        items=items,
        reason=data.reason,
        requested_by=principal.subject,
        requested_at=utcnow(),
        approver_unit_ids=units,
    )
    session.add(change)
    await session.flush()
    await record_change(
        session,
        actor=principal.subject,
        tenant=project.tenant_code,
        action="node_plan_change.request",
        entity="node_plan_change",
        entity_id=str(change.id),
        changes={"items": items, "reason": data.reason},
        event=NodePlanChangeRequested(
            change_id=str(change.id),
            project_id=str(project.id),
            code=project.code,
            requested_by=principal.subject,
            reason=data.reason,
            dates={i["key"]: [i["old_date"], i["planned_date"]] for i in items},
            approver_unit_ids=units,
        ),
        source=SOURCE,
        subject=str(project.id),
    )
    return change


async def _pending(
    session: AsyncSession, principal: Principal, id_or_code: str, change_id: uuid.UUID
) -> tuple[Project, NodePlanChange, WorkingCalendar]:
    project = await get_project(session, principal=principal, id_or_code=id_or_code, lock=True)
    change = (
        await session.exec(
            select(NodePlanChange)
            .where(NodePlanChange.id == change_id, NodePlanChange.project_id == project.id)
            .with_for_update()
        )
    ).first()
    if change is None:
        raise NotFound("node-plan change not found")
    ensure_writable(principal, ancestry_of(project.tenant_path))
    units, cal = await approver_units(session, project)
    if principal.is_enterprise or principal.unit is None or principal.unit not in units:
        raise Forbidden(
            "only the project's lead department decides node-plan changes", code="not_the_lead_department"
        )
    if change.status != "pending":
        raise Conflict(f"the change was already {change.status}", code="change_decided")
    return project, change, cal


async def approve(
    session: AsyncSession, *, principal: Principal, id_or_code: str, change_id: uuid.UUID
) -> NodePlanChange:
    """The proposed dates take effect, predecessors first; later dates push the successors."""
    project, change, cal = await _pending(session, principal, id_or_code, change_id)
    rows = await plans.plan_rows(session, project_id=project.id)
    by_id = {str(m.id): m for m in rows}
    order = {k: i for i, k in enumerate(network.topological_order_of(plans.network_of(rows)))}
    before: dict[str, date] = {}
    after: dict[str, date] = {}
    for item in sorted(change.items, key=lambda i: order.get(i["key"], 0)):
        m = by_id.get(item["milestone_id"])
        if m is None or m.key is None:
            raise Conflict(f"node {item['key']!r} is no longer in the plan", code="plan_changed")
        if m.actual_date is not None:
            raise ValidationFailed(f"node {m.key!r} was reached meanwhile", code="node_reached")
        new = date.fromisoformat(item["planned_date"])
        if new == m.planned_date:
            continue
        current, moved = await plans.move_node(
            session, project=project, rows=rows, cal=cal, key=m.key, new_finish=new
        )
        for k, d in moved.items():
            before.setdefault(k, current[k].finish)
            after[k] = d.finish
    moved_out = {k: [before[k].isoformat(), after[k].isoformat()] for k in after if after[k] != before[k]}
    change.status = "approved"
    change.decided_by = principal.subject
    change.decided_at = utcnow()
    change.moved = moved_out
    change.row_version += 1
    await record_change(
        session,
        actor=principal.subject,
        tenant=project.tenant_code,
        action="node_plan_change.approve",
        entity="node_plan_change",
        entity_id=str(change.id),
        changes={"moved": moved_out},
        event=NodePlanChangeApproved(
            change_id=str(change.id),
            project_id=str(project.id),
            code=project.code,
            approved_by=principal.subject,
            moved=moved_out,
        ),
        source=SOURCE,
        subject=str(project.id),
    )
    return change


async def reject(
    session: AsyncSession, *, principal: Principal, id_or_code: str, change_id: uuid.UUID, reason: str
) -> NodePlanChange:
    project, change, _cal = await _pending(session, principal, id_or_code, change_id)
    change.status = "rejected"
    change.decided_by = principal.subject
    change.decided_at = utcnow()
    change.decision_reason = reason
    change.row_version += 1
    await record_change(
        session,
        actor=principal.subject,
        tenant=project.tenant_code,
        action="node_plan_change.reject",
        entity="node_plan_change",
        entity_id=str(change.id),
        changes={"reason": reason},
        event=NodePlanChangeRejected(
            change_id=str(change.id),
            project_id=str(project.id),
            code=project.code,
            rejected_by=principal.subject,
            reason=reason,
        ),
        source=SOURCE,
        subject=str(project.id),
    )
    return change


async def list_changes(
    session: AsyncSession, *, principal: Principal, id_or_code: str
) -> list[NodePlanChange]:
    project = await get_project(session, principal=principal, id_or_code=id_or_code)
    stmt = (
        select(NodePlanChange)
        .where(NodePlanChange.project_id == project.id)
        .order_by(col(NodePlanChange.requested_at).desc(), col(NodePlanChange.id))
    )
    return list((await session.exec(stmt)).all())


def to_out(c: NodePlanChange) -> ChangeOut:
    return ChangeOut(
        id=c.id,
        project_id=c.project_id,
        status=c.status,  # type: ignore[arg-type]
        items=[ChangeItemOut.model_validate(i) for i in c.items],
        reason=c.reason,
        requested_by=c.requested_by,
        requested_at=c.requested_at,
        approver_unit_ids=[uuid.UUID(u) for u in c.approver_unit_ids],
        decided_by=c.decided_by,
        decided_at=c.decided_at,
        decision_reason=c.decision_reason,
        moved={k: [date.fromisoformat(v[0]), date.fromisoformat(v[1])] for k, v in c.moved.items()},
    )
