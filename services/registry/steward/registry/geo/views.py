from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from steward.kit.http import DatabaseDep, PrincipalDep
from steward.registry.geo import service
from steward.registry.projects.schemas import FundingType, KeyLevel, ProjectFilter
from steward.registry.projects.stages import Stage

router = APIRouter(prefix="/v1/map", tags=["map"])


@router.get(
    "/projects",
    summary="Projects as a GeoJSON FeatureCollection (一张图), same filters as GET /v1/projects",
    response_class=JSONResponse,
    responses={200: {"content": {"application/geo+json": {}}}},
)
async def projects_geojson(
    db: DatabaseDep,
    principal: PrincipalDep,
    tenant: str | None = None,
    stage: Annotated[list[Stage] | None, Query()] = None,
    tier: Annotated[list[str] | None, Query()] = None,
    key_level: Annotated[list[KeyLevel] | None, Query()] = None,
    funding_type: FundingType | None = None,
    steward_required: bool | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 5000,
) -> Any:
    f = ProjectFilter(
        tenant=tenant,
        stages=stage or [],
        tiers=tier or [],
        key_levels=key_level or [],
        funding_type=funding_type,
        steward_required=steward_required,
        q=q,
    )
    async with db.read() as session:
        body = await service.collection(session, principal=principal, f=f, limit=limit)
    return JSONResponse(body, media_type="application/geo+json")
