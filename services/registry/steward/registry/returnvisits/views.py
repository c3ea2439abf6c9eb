from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from steward.kit.http import DatabaseDep, PrincipalDep
from steward.kit.inputs import clean_request
from steward.registry.returnvisits import service
from steward.registry.returnvisits.schemas import PickIn, RecordIn, ReturnVisitList, StatsOut

router = APIRouter(prefix="/v1/return-visits", tags=["service log"], dependencies=[Depends(clean_request)])

Month = Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="e.g. 2026-10")]


@router.post(
    "",
    response_model=ReturnVisitList,
    status_code=201,
    summary="The service room picks service records for a return visit (回访)",
)
async def pick(db: DatabaseDep, principal: PrincipalDep, body: PickIn) -> ReturnVisitList:
    async with db.transaction() as session:
        picked = await service.pick(session, principal=principal, data=body)
        months = {v.month for v in picked}
        items = []
        for month in sorted(months):
            listed = await service.list_visits(
                session, principal=principal, tenant=picked[0].tenant_code, month=month, unvisited=True
            )
            ids = {v.id for v in picked}
            items += [x for x in listed if x.id in ids]
        return ReturnVisitList(items=items)


@router.post(
    "/{visit_id}/record",
    response_model=ReturnVisitList,
    summary="Record the call: who, when, answer, satisfaction",
)
async def record(
    db: DatabaseDep, principal: PrincipalDep, visit_id: uuid.UUID, body: RecordIn
) -> ReturnVisitList:
    async with db.transaction() as session:
        rv = await service.record(session, principal=principal, visit_id=visit_id, data=body)
        listed = await service.list_visits(
            session, principal=principal, tenant=rv.tenant_code, month=rv.month, unvisited=False
        )
        return ReturnVisitList(items=[x for x in listed if x.id == rv.id])


@router.get(
    "",
    response_model=ReturnVisitList,
    summary="Return visits of a month; unvisited=true: not yet called back",
)
async def list_visits(
    db: DatabaseDep, principal: PrincipalDep, month: Month, tenant: str | None = None, unvisited: bool = False
) -> ReturnVisitList:
    async with db.read() as session:
        return ReturnVisitList(
            items=await service.list_visits(
                session, principal=principal, tenant=tenant, month=month, unvisited=unvisited
            )
        )


@router.get(
    "/stats",
    response_model=StatsOut,
    summary="Monthly service statistics per specialist and per unit, with return-visit satisfaction (JSON or CSV)",
    responses={200: {"content": {"text/csv": {}}}},
)
async def stats(
    db: DatabaseDep,
    principal: PrincipalDep,
    month: Month,
    tenant: str | None = None,
    format: Literal["json", "csv"] = "json",
) -> StatsOut | Response:
    async with db.read() as session:
        out = await service.stats(session, principal=principal, tenant=tenant, month=month)
    if format == "csv":
        return Response(
            service.stats_csv(out),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="return-visits-{out.tenant}-{month}.csv"'},
        )
    return out
