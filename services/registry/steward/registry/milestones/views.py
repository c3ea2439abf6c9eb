from __future__ import annotations

import uuid
from datetime import date

from fastapi import APIRouter, Depends
from pydantic import Field

from steward.kit.http import DatabaseDep, PrincipalDep
from steward.kit.inputs import Input, clean_request
from steward.registry.milestones import service
from steward.registry.milestones.schemas import MilestoneIn, MilestoneOut, MilestoneUpdate, PlanOut
from steward.registry.projects.service import get_project

router = APIRouter(prefix="/v1/projects", tags=["network plan"], dependencies=[Depends(clean_request)])


class MilestonesIn(Input):
    items: list[MilestoneIn] = Field(min_length=1, max_length=200)


@router.post(
    "/{id_or_code}/milestones",
    response_model=list[MilestoneOut],
    status_code=201,
    summary="Add milestones to the project's network plan (挂图作战)",
)
async def add_milestones(
    db: DatabaseDep, principal: PrincipalDep, id_or_code: str, body: MilestonesIn
) -> list[MilestoneOut]:
    async with db.transaction() as session:
        rows = await service.create(session, principal=principal, id_or_code=id_or_code, items=body.items)
        as_of = service.today()
        return [service.to_out(m, as_of) for m in rows]


@router.patch("/{id_or_code}/milestones/{milestone_id}", response_model=MilestoneOut)
async def update_milestone(
    db: DatabaseDep, principal: PrincipalDep, id_or_code: str, milestone_id: uuid.UUID, body: MilestoneUpdate
) -> MilestoneOut:
    async with db.transaction() as session:
        m = await service.update(
            session, principal=principal, id_or_code=id_or_code, milestone_id=milestone_id, data=body
        )
        return service.to_out(m, service.today())


@router.get(
    "/{id_or_code}/plan",
    response_model=PlanOut,
    summary="Gantt-style network plan with completion percentage",
)
async def get_plan(
    db: DatabaseDep, principal: PrincipalDep, id_or_code: str, as_of: date | None = None
) -> PlanOut:
    async with db.read() as session:
        project = await get_project(session, principal=principal, id_or_code=id_or_code)
        return await service.plan(session, project=project, as_of=as_of)
