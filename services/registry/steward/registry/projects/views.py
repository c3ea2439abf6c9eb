from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from steward.kit.http import DatabaseDep, PrincipalDep
from steward.kit.inputs import clean_request
from steward.registry.projects import gaps, lifecycle, service
from steward.registry.projects.schemas import (
    FundingType,
    HistoryOut,
    KeyLevel,
    ProjectCreate,
    ProjectFilter,
    ProjectList,
    ProjectOut,
    ProjectUpdate,
    StageChangeOut,
    TransitionIn,
)
from steward.registry.projects.stages import Stage, allowed_targets

router = APIRouter(prefix="/v1/projects", tags=["projects"], dependencies=[Depends(clean_request)])


def project_filter(
    tenant: str | None = None,
    stage: Annotated[list[Stage] | None, Query()] = None,
    tier: Annotated[list[str] | None, Query()] = None,
    key_level: Annotated[list[KeyLevel] | None, Query()] = None,
    funding_type: FundingType | None = None,
    steward_required: bool | None = None,
    national_code: Annotated[
        str | None, Query(max_length=24, description="全国投资项目代码, with or without dashes")
    ] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> ProjectFilter:
    """The project list's query filters (also used by the map)."""
    return ProjectFilter(
        tenant=tenant,
        stages=stage or [],
        tiers=tier or [],
        key_levels=key_level or [],
        funding_type=funding_type,
        steward_required=steward_required,
        national_code=national_code,
        q=q,
    )


ProjectFilterDep = Annotated[ProjectFilter, Depends(project_filter)]


@router.post(
    "", response_model=ProjectOut, status_code=201, summary="Register a project (gets its lifetime code)"
)
async def register(db: DatabaseDep, principal: PrincipalDep, body: ProjectCreate) -> ProjectOut:
    async with db.transaction() as session:
        return service.to_out(await service.register(session, principal=principal, data=body))


@router.get("", response_model=ProjectList, summary="Projects in a tenant subtree, newest first")
async def list_projects(
    db: DatabaseDep,
    principal: PrincipalDep,
    f: ProjectFilterDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> ProjectList:
    async with db.read() as session:
        rows, nxt = await service.list_projects(session, principal=principal, f=f, limit=limit, cursor=cursor)
        return ProjectList(items=[service.to_out(p) for p in rows], next_cursor=nxt)


@router.get(
    "/gaps/national-code",
    response_model=ProjectList,
    summary="Data-quality gap: projects at or past the preparing stage without a national project code",
)
async def national_code_gaps(
    db: DatabaseDep,
    principal: PrincipalDep,
    tenant: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> ProjectList:
    async with db.read() as session:
        rows, nxt = await gaps.national_code_gaps(
            session, principal=principal, tenant=tenant, limit=limit, cursor=cursor
        )
        return ProjectList(items=[service.to_out(p) for p in rows], next_cursor=nxt)


@router.get("/{id_or_code}", response_model=ProjectOut)
async def get_project(db: DatabaseDep, principal: PrincipalDep, id_or_code: str) -> ProjectOut:
    async with db.read() as session:
        return service.to_out(await service.get_project(session, principal=principal, id_or_code=id_or_code))


@router.patch("/{id_or_code}", response_model=ProjectOut)
async def update_project(
    db: DatabaseDep, principal: PrincipalDep, id_or_code: str, body: ProjectUpdate
) -> ProjectOut:
    async with db.transaction() as session:
        return service.to_out(
            await service.update(session, principal=principal, id_or_code=id_or_code, data=body)
        )


@router.post(
    "/{id_or_code}/transitions", response_model=ProjectOut, summary="Move the project to another stage"
)
async def transition(
    db: DatabaseDep, principal: PrincipalDep, id_or_code: str, body: TransitionIn
) -> ProjectOut:
    async with db.transaction() as session:
        project = await lifecycle.transition(
            session, principal=principal, id_or_code=id_or_code, to_stage=body.to_stage, reason=body.reason
        )
        return service.to_out(project)


@router.get("/{id_or_code}/history", response_model=HistoryOut, summary="Lifecycle history: who, when, why")
async def history(db: DatabaseDep, principal: PrincipalDep, id_or_code: str) -> HistoryOut:
    async with db.read() as session:
        project = await service.get_project(session, principal=principal, id_or_code=id_or_code)
        rows = await lifecycle.history(session, project=project)
        before = Stage(project.stage_before_suspension) if project.stage_before_suspension else None
        return HistoryOut(
            project_id=project.id,
            items=[
                StageChangeOut(
                    from_stage=Stage(r.from_stage) if r.from_stage else None,
                    to_stage=Stage(r.to_stage),
                    reason=r.reason,
                    actor=r.actor,
                    at=r.at,
                )
                for r in rows
            ],
            allowed_next=sorted(allowed_targets(Stage(project.stage), before_suspension=before)),
        )
