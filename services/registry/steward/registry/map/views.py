from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from steward.kit.http import DatabaseDep, PrincipalDep
from steward.kit.inputs import clean_request
from steward.registry.map import service
from steward.registry.projects.views import ProjectFilterDep

router = APIRouter(prefix="/v1/map", tags=["map"], dependencies=[Depends(clean_request)])


@router.get(
    "/projects",
    summary="Projects as a GeoJSON FeatureCollection (一张图), same filters as GET /v1/projects",
    response_class=JSONResponse,
    responses={200: {"content": {"application/geo+json": {}}}},
)
async def projects_geojson(
    db: DatabaseDep,
    principal: PrincipalDep,
    f: ProjectFilterDep,
    limit: Annotated[int, Query(ge=1, le=10000)] = 5000,
) -> Any:
    async with db.read() as session:
        body = await service.collection(session, principal=principal, f=f, limit=limit)
    return JSONResponse(body, media_type="application/geo+json")
