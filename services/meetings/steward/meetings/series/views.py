"""REST API of series: list, read, sync from the tenant's rules, set place/chair/participants,
generate the coming meetings now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from steward.kit.http import PrincipalDep
from steward.kit.inputs import TENANT_PATTERN, clean_request
from steward.meetings.access import base_path, ensure_organizer, tenant_path
from steward.meetings.context import CtxDep
from steward.meetings.series import service
from steward.meetings.series.schemas import GenerateOut, SeriesList, SeriesOut, SeriesUpdate, SyncIn

router = APIRouter(prefix="/v1/series", tags=["series"], dependencies=[Depends(clean_request)])
TenantQuery = Annotated[str | None, Query(pattern=TENANT_PATTERN, description="a tenant code")]


@router.get("", response_model=SeriesList, summary="Meeting series in a tenant subtree")
async def list_series(ctx: CtxDep, principal: PrincipalDep, tenant: TenantQuery = None) -> SeriesList:
    path = await base_path(ctx, principal, tenant)
    async with ctx.db.read() as session:
        return SeriesList(
            items=[service.to_out(s) for s in await service.list_series(session, base_path=path)]
        )


@router.post(
    "/sync", response_model=SeriesList, summary="Create or refresh the tenant's series from its rules"
)
async def sync(ctx: CtxDep, principal: PrincipalDep, body: SyncIn) -> SeriesList:
    ensure_organizer(principal)
    path = await tenant_path(ctx, principal, body.tenant, write=True)
    rules = await ctx.registry.rules(body.tenant)
    async with ctx.db.transaction() as session:
        rows = await service.sync(
            session, actor=principal.subject, tenant=body.tenant, path=path, rules=rules, now=ctx.clock()
        )
        return SeriesList(items=[service.to_out(s) for s in rows])


@router.get("/{series_id}", response_model=SeriesOut, summary="One series")
async def get_series(ctx: CtxDep, principal: PrincipalDep, series_id: str) -> SeriesOut:
    async with ctx.db.read() as session:
        return service.to_out(await service.get(session, principal=principal, series_id=series_id))


@router.patch("/{series_id}", response_model=SeriesOut, summary="Place, chair and participants (参会人员)")
async def update_series(
    ctx: CtxDep, principal: PrincipalDep, series_id: str, body: SeriesUpdate
) -> SeriesOut:
    async with ctx.db.transaction() as session:
        s = await service.get(session, principal=principal, series_id=series_id, lock=True)
        ensure_organizer(principal)
        s = await service.update(session, principal=principal, s=s, data=body, now=ctx.clock())
        return service.to_out(s)


@router.post("/{series_id}/generate", response_model=GenerateOut, summary="Generate the coming meetings now")
async def generate(ctx: CtxDep, principal: PrincipalDep, series_id: str) -> GenerateOut:
    async with ctx.db.transaction() as session:
        s = await service.get(session, principal=principal, series_id=series_id, lock=True)
        ensure_organizer(principal)
        created, skipped = await service.generate(
            session, s=s, now=ctx.clock(), weeks=ctx.settings.generate_weeks_ahead
        )
        return GenerateOut(created=created, skipped=skipped)
