from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.auth import Principal
from steward.kit.http import DatabaseDep, PrincipalDep
from steward.kit.inputs import clean_request
from steward.registry.projects.models import Project
from steward.registry.projects.service import get_project
from steward.registry.rosters import service
from steward.registry.rosters.models import Assignment
from steward.registry.rosters.schemas import (
    AssignmentIn,
    AssignmentOut,
    CompletenessOut,
    HolderOut,
    IncompleteProject,
    RoleStatus,
    RosterOut,
)
from steward.registry.units.models import Person, Unit
from steward.registry.units.service import PHONE_ROLES, mask_phone

router = APIRouter(tags=["rosters"], dependencies=[Depends(clean_request)])


async def _holders(
    session: AsyncSession, assignments: list[Assignment], principal: Principal
) -> list[AssignmentOut]:
    person_ids = [a.person_id for a in assignments if a.person_id]
    unit_ids = [a.unit_id for a in assignments if a.unit_id]
    people = (
        {p.id: p for p in (await session.exec(select(Person).where(col(Person.id).in_(person_ids)))).all()}
        if person_ids
        else {}
    )
    units = (
        {u.id: u for u in (await session.exec(select(Unit).where(col(Unit.id).in_(unit_ids)))).all()}
        if unit_ids
        else {}
    )
    out = []
    for a in assignments:
        person = people.get(a.person_id) if a.person_id else None
        unit = units.get(a.unit_id) if a.unit_id else None
        phone = None
        if person is not None:
            phone = person.phone if principal.has(*PHONE_ROLES) else mask_phone(person.phone)
        out.append(
            AssignmentOut(
                id=a.id,
                role_key=a.role_key,
                assigned_by=a.assigned_by,
                assigned_at=a.assigned_at,
                holder=HolderOut(
                    person_id=a.person_id,
                    person_name=person.name if person else None,
                    title=person.title if person else None,
                    phone=phone,
                    unit_id=a.unit_id,
                    unit_name=unit.name if unit else None,
                    label=a.label,
                ),
            )
        )
    return out


async def build_roster(session: AsyncSession, principal: Principal, project: Project) -> RosterOut:
    template = await service.template_for(session, project=project)
    assignments = await service.active_assignments(session, project_ids=[project.id])
    holders = await _holders(session, assignments, principal)
    missing = service.missing_roles(template, project, assignments)
    facts = service.facts_of(project)
    roles = [
        RoleStatus(
            key=r.key,
            name_zh=r.name_zh,
            name_en=r.name_en,
            holder=r.holder,
            required=r.required_for(facts),
            min=r.cardinality.min,
            max=r.cardinality.max,
            assignments=[h for h in holders if h.role_key == r.key],
            missing=r.key in missing,
        )
        for r in template.roles
    ]
    return RosterOut(
        project_id=project.id,
        code=project.code,
        template_name=template.template_name,
        roles=roles,
        missing_roles=missing,
        complete=not missing,
    )


@router.get(
    "/v1/projects/{id_or_code}/roster",
    response_model=RosterOut,
    summary="Roster with required and missing roles",
)
async def get_roster(db: DatabaseDep, principal: PrincipalDep, id_or_code: str) -> RosterOut:
    async with db.read() as session:
        project = await get_project(session, principal=principal, id_or_code=id_or_code)
        return await build_roster(session, principal, project)


@router.post("/v1/projects/{id_or_code}/roster", response_model=AssignmentOut, status_code=201)
async def assign(
    db: DatabaseDep, principal: PrincipalDep, id_or_code: str, body: AssignmentIn
) -> AssignmentOut:
    async with db.transaction() as session:
        a = await service.assign(session, principal=principal, id_or_code=id_or_code, data=body)
        return (await _holders(session, [a], principal))[0]


@router.delete("/v1/projects/{id_or_code}/roster/{assignment_id}", status_code=204, response_class=Response)
async def unassign(
    db: DatabaseDep, principal: PrincipalDep, id_or_code: str, assignment_id: uuid.UUID
) -> Response:
    async with db.transaction() as session:
        await service.unassign(
            session, principal=principal, id_or_code=id_or_code, assignment_id=assignment_id
        )
    return Response(status_code=204)


@router.get(
    "/v1/rosters/completeness",
    response_model=CompletenessOut,
    summary="Projects missing required roster roles",
)
async def completeness(
    db: DatabaseDep,
    principal: PrincipalDep,
    tenant: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> CompletenessOut:
    async with db.read() as session:
        checked, rows = await service.completeness(session, principal=principal, tenant=tenant, limit=limit)
        return CompletenessOut(
            tenant=tenant or principal.tenant,
            projects_checked=checked,
            incomplete=len(rows),
            items=[
                IncompleteProject(
                    project_id=p.id,
                    code=p.code,
                    name=p.name,
                    tenant=p.tenant_code,
                    tier=p.tier,
                    missing_roles=m,
                )
                for p, m in rows
            ],
        )
