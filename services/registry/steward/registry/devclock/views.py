from __future__ import annotations

from fastapi import APIRouter, Depends

from steward.kit import devclock
from steward.kit.clock import Clock
from steward.kit.http import PrincipalDep
from steward.kit.inputs import clean_request
from steward.registry.context import CtxDep
from steward.registry.devclock import service
from steward.registry.devclock.schemas import ClockChange, ClockOut

router = APIRouter(prefix="/v1/dev", tags=["dev"], dependencies=[Depends(clean_request)])


@router.get("/clock", response_model=ClockOut, summary="The platform clock (dev mode: how far ahead it runs)")
async def get_clock(ctx: CtxDep, principal: PrincipalDep) -> ClockOut:
    return service.state(ctx.settings.environment, ctx.clock)


@router.post(
    "/clock",
    response_model=ClockOut,
    summary="Dev mode only, platform admins: move every service's clock forward, or reset it (audited)",
)
async def move_clock(ctx: CtxDep, principal: PrincipalDep, body: ClockChange) -> ClockOut:
    advance = service.parse_duration(body.advance) if body.advance is not None else None
    async with ctx.db.transaction() as session:
        offset = await service.change(
            session,
            principal=principal,
            environment=ctx.settings.environment,
            clock=ctx.clock,
            advance=advance,
        )
    assert isinstance(ctx.clock, Clock)
    devclock.apply(ctx.clock, offset, service=ctx.settings.service_name)  # this replica at once
    return service.state(ctx.settings.environment, ctx.clock)
