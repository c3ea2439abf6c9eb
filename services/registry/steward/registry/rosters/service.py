"""Responsibility rosters: per-tenant role templates (rules), assignments, completeness."""

from __future__ import annotations

import uuid
from collections import defaultdict

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.registry import RosterAssigned, RosterRoleMissing, RosterUnassigned
from steward.kit.auth import Principal, Role
from steward.kit.changes import record_change
from steward.kit.db import Database, utcnow
from steward.kit.errors import Conflict, NotFound, ValidationFailed
from steward.kit.loads import Joined
from steward.kit.outbox import emit
from steward.kit.paging import scoped
from steward.kit.tenancy import ancestry_of, ensure_visible, ensure_writable
from steward.registry.projects.models import Project
from steward.registry.projects.service import get_project
from steward.registry.rosters.models import Assignment
from steward.registry.rosters.schemas import AssignmentIn
from steward.registry.rules import service as rules
from steward.registry.settings import SOURCE
from steward.registry.tenants.service import get_visible_tenant
from steward.registry.units.models import Person, Unit
from steward.rules import ProjectFacts, RosterSection

WRITERS = (Role.PLATFORM_ADMIN, Role.TENANT_ADMIN, Role.DISPATCHER, Role.SPECIALIST)


def facts_of(project: Project) -> ProjectFacts:
    flags = {f for f in ("on_platform", "steward_required", "named_responsibility") if getattr(project, f)}
    return ProjectFacts(
        investment=int(project.total_investment),
        funding_type=project.funding_type,
        tier=project.tier,
        key_level=project.key_level,
        stage=project.stage,
        major=project.major,
        flags=flags,
    )


async def template_for(session: AsyncSession, *, project: Project) -> RosterSection:
    eff = await rules.effective(session, tenant=project.tenant_code, path=project.tenant_path)
    return eff.document.roster


async def active_assignments(session: AsyncSession, *, project_ids: list[uuid.UUID]) -> list[Assignment]:
    stmt = (
        select(Assignment)
        .where(
            col(Assignment.project_id).in_(project_ids),
            col(Assignment.ended_at).is_(None),
        )
        .order_by(col(Assignment.assigned_at))
    )
    return list((await session.exec(stmt)).all())


# the project's active assignments in order, each with its person and its unit (the assignment's
# own, else the person's): one statement, read straight through the driver (steward.kit.loads)
_HOLDERS = Joined(
    select(Assignment, Person, Unit)
    .outerjoin(Person, col(Person.id) == col(Assignment.person_id))
    .outerjoin(Unit, col(Unit.id) == sa.func.coalesce(col(Assignment.unit_id), col(Person.unit_id)))
    .where(col(Assignment.project_id) == sa.bindparam("project_id"), col(Assignment.ended_at).is_(None))
    .order_by(col(Assignment.assigned_at))
)


async def active_holders(
    db: Database, *, project_id: uuid.UUID
) -> list[tuple[Assignment, Person | None, Unit | None]]:
    """The project's active assignments in order, each with its person and its unit (the
    assignment's own, else the person's): one statement, no session."""
    return [(a, p, u) for a, p, u in await _HOLDERS.all(db, project_id=project_id)]


async def roster_roles(session: AsyncSession, *, subject: str, project_id: uuid.UUID) -> set[str]:
    """Role keys the person logged in as ``subject`` holds on the project's roster now."""
    stmt = (
        select(Assignment.role_key)
        .join(Person, col(Person.id) == col(Assignment.person_id))
        .where(
            Person.subject == subject,
            Assignment.project_id == project_id,
            col(Assignment.ended_at).is_(None),
        )
    )
    return set((await session.exec(stmt)).all())


def missing_roles(template: RosterSection, project: Project, assignments: list[Assignment]) -> list[str]:
    counts: dict[str, int] = defaultdict(int)
    for a in assignments:
        counts[a.role_key] += 1
    return [r.key for r in template.missing_roles(facts_of(project), counts)]


async def assign(
    session: AsyncSession, *, principal: Principal, id_or_code: str, data: AssignmentIn
) -> Assignment:
    principal.require(*WRITERS)
    project = await get_project(session, principal=principal, id_or_code=id_or_code, lock=True)
    ensure_writable(principal, ancestry_of(project.tenant_path))
    template = await template_for(session, project=project)
    role = template.role(data.role_key)
    if role is None:
        raise ValidationFailed(
            f"role {data.role_key!r} is not in this tenant's roster template",
            code="unknown_role",
            details=[
                {"loc": ["role_key"], "message": f"known: {[r.key for r in template.roles]}", "type": "enum"}
            ],
        )
    if role.holder in ("person", "team"):
        if data.person_id is None:
            raise ValidationFailed(
                f"role {role.key} is held by a person: give person_id", code="holder_required"
            )
        person = await session.get(Person, data.person_id)
        if person is None:
            raise ValidationFailed("person not found", code="unknown_person")
        ensure_visible(principal, ancestry_of(person.tenant_path), what="person")
    elif role.holder == "unit":
        if data.unit_id is None:
            raise ValidationFailed(f"role {role.key} is held by a unit: give unit_id", code="holder_required")
        unit = await session.get(Unit, data.unit_id)
        if unit is None:
            raise ValidationFailed("unit not found", code="unknown_unit")
        ensure_visible(principal, ancestry_of(unit.tenant_path), what="unit")
    elif not data.label.strip():
        raise ValidationFailed(
            f"role {role.key} is a body: give its label (e.g. its name)", code="holder_required"
        )
    current = [
        a for a in await active_assignments(session, project_ids=[project.id]) if a.role_key == role.key
    ]
    if any(
        a.person_id == data.person_id and a.unit_id == data.unit_id and a.label == data.label for a in current
    ):
        raise Conflict("this holder already has the role", code="already_assigned")
    if role.cardinality.max is not None and len(current) >= role.cardinality.max:
        raise Conflict(
            f"role {role.key} takes at most {role.cardinality.max}; end a current assignment first",
            code="role_full",
        )
    assignment = Assignment(
        project_id=project.id,
        role_key=role.key,
        person_id=data.person_id,
        unit_id=data.unit_id,
        label=data.label.strip(),
        assigned_by=principal.subject,
    )
    session.add(assignment)
    await session.flush()
    await record_change(
        session,
        actor=principal.subject,
        tenant=project.tenant_code,
        action="roster.assign",
        entity="project",
        entity_id=str(project.id),
        changes=data.model_dump(mode="json"),
        event=RosterAssigned(
            project_id=str(project.id),
            code=project.code,
            assignment_id=str(assignment.id),
            role_key=role.key,
            person_id=str(data.person_id or data.unit_id or ""),
        ),
        source=SOURCE,
        subject=str(project.id),
    )
    return assignment


async def unassign(
    session: AsyncSession, *, principal: Principal, id_or_code: str, assignment_id: uuid.UUID
) -> None:
    principal.require(*WRITERS)
    project = await get_project(session, principal=principal, id_or_code=id_or_code, lock=True)
    ensure_writable(principal, ancestry_of(project.tenant_path))
    assignment = await session.get(Assignment, assignment_id)
    if assignment is None or assignment.project_id != project.id or assignment.ended_at is not None:
        raise NotFound("assignment not found")
    assignment.ended_at = utcnow()
    assignment.ended_by = principal.subject
    await record_change(
        session,
        actor=principal.subject,
        tenant=project.tenant_code,
        action="roster.unassign",
        entity="project",
        entity_id=str(project.id),
        changes={"assignment_id": str(assignment_id)},
        event=RosterUnassigned(
            project_id=str(project.id),
            code=project.code,
            assignment_id=str(assignment.id),
            role_key=assignment.role_key,
            person_id=str(assignment.person_id or assignment.unit_id or ""),
        ),
        source=SOURCE,
        subject=str(project.id),
    )
    template = await template_for(session, project=project)
    remaining = [
        a for a in await active_assignments(session, project_ids=[project.id]) if a.id != assignment.id
    ]
    missing = missing_roles(template, project, remaining)
    if assignment.role_key in missing:
        await emit(
            session,
            RosterRoleMissing(project_id=str(project.id), code=project.code, missing_roles=missing),
            tenant=project.tenant_code,
            source=SOURCE,
            subject=str(project.id),
            actor=principal.subject,
        )


async def completeness(
    session: AsyncSession, *, principal: Principal, tenant: str | None, limit: int
) -> tuple[int, list[tuple[Project, list[str]]]]:
    """Projects in the subtree (on the platform, not terminated) lacking a required role."""
    base = await get_visible_tenant(session, principal=principal, code=tenant or principal.tenant)
    stmt = (
        scoped(select(Project), Project.tenant_path, base.path)
        .where(Project.stage != "terminated")
        .order_by(col(Project.created_at), col(Project.id))
    )

    projects = list((await session.exec(stmt)).all())
    by_project: dict[uuid.UUID, list[Assignment]] = defaultdict(list)
    for chunk in range(0, len(projects), 1000):
        ids = [p.id for p in projects[chunk : chunk + 1000]]
        for a in await active_assignments(session, project_ids=ids):
            by_project[a.project_id].append(a)
    templates: dict[str, RosterSection] = {}
    out: list[tuple[Project, list[str]]] = []
    for p in projects:
        if p.tenant_code not in templates:
            templates[p.tenant_code] = await template_for(session, project=p)
        missing = missing_roles(templates[p.tenant_code], p, by_project[p.id])
        if missing:
            out.append((p, missing))
    return len(projects), out[:limit]
