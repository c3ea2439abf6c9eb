"""REST API of periods: close (freezes the scorecard definition) and replay (recompute and compare)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from steward.kit.http import PrincipalDep
from steward.kit.inputs import clean_request
from steward.scoring import access
from steward.scoring.context import CtxDep
from steward.scoring.periods import service
from steward.scoring.periods.keys import PERIOD_PATTERN
from steward.scoring.periods.schemas import CloseIn, PeriodOut, ReplayOut

router = APIRouter(prefix="/v1/scoring/periods", tags=["periods"], dependencies=[Depends(clean_request)])
Key = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
PeriodP = Annotated[str, Path(pattern=PERIOD_PATTERN)]


@router.post(
    "/{scorecard}/{period}/close", response_model=PeriodOut, status_code=201, summary="Close a period"
)
async def close_period(
    ctx: CtxDep, principal: PrincipalDep, scorecard: Key, period: PeriodP, body: CloseIn
) -> PeriodOut:
    code, path = await access.writable(ctx, principal, body.tenant)
    card = await access.scorecard(ctx, code, scorecard)
    async with ctx.db.transaction() as session:
        row = await service.close(
            session, principal=principal, card=card, tenant=code, path=path, period=period, now=ctx.clock()
        )
        return service.to_out(row)


@router.post(
    "/{scorecard}/{period}/replay",
    response_model=ReplayOut,
    summary="Recompute a closed period from its ledger under its frozen rules and compare the totals",
)
async def replay_period(
    ctx: CtxDep,
    principal: PrincipalDep,
    scorecard: Key,
    period: PeriodP,
    tenant: Annotated[str | None, Query(pattern=r"^[0-9]{6}([0-9]{3}){0,2}$")] = None,
) -> ReplayOut:
    code, _ = await access.readable(ctx, principal, tenant)
    async with ctx.db.read() as session:
        closed = await service.get_closed(session, tenant=code, scorecard=scorecard, period=period)
        return await service.replay(session, closed=closed)
