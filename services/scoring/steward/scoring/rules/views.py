"""REST API of the rules engine: the tenant's scorecards, facts to score, and a dry run."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from steward.kit.http import PrincipalDep
from steward.kit.inputs import clean_request
from steward.scoring import access, metrics
from steward.scoring.context import CtxDep
from steward.scoring.ledger.scores import entry_out
from steward.scoring.rules import service
from steward.scoring.rules.schemas import FactIn, FactOut, PreviewIn, PreviewOut

router = APIRouter(prefix="/v1/scoring", tags=["rules"], dependencies=[Depends(clean_request)])
TenantQ = Annotated[str | None, Query(pattern=r"^[0-9]{6}([0-9]{3}){0,2}$")]


@router.get("/scorecards", summary="The tenant's scorecards, rankings and surveys (from its effective rules)")
async def scorecards(ctx: CtxDep, principal: PrincipalDep, tenant: TenantQ = None) -> dict[str, Any]:
    code, _ = await access.readable(ctx, principal, tenant)
    section = (await ctx.registry.rules(code)).scorecards
    return section.model_dump(mode="json")


@router.post(
    "/facts",
    response_model=FactOut,
    status_code=201,
    summary="Record a fact no service publishes (attendance, integrity findings …); scored like an event",
)
async def record_fact(ctx: CtxDep, principal: PrincipalDep, body: FactIn) -> FactOut:
    principal.require(*access.FACT_SOURCES)
    code, path = await access.writable(ctx, principal, body.tenant)
    rules = await ctx.registry.rules(code)
    async with ctx.db.transaction() as session:
        written = await service.record_fact(
            session, principal=principal, data=body, rules=rules, path=path, now=ctx.clock()
        )
        out = FactOut(recorded=[entry_out(e) for e in written])
    metrics.ENTRIES.labels("fact").inc(len(written))
    return out


@router.post("/rules/preview", response_model=PreviewOut, summary="Dry run: what the rules would record")
async def preview(ctx: CtxDep, principal: PrincipalDep, body: PreviewIn) -> PreviewOut:
    code, path = await access.readable(ctx, principal, body.tenant)
    rules = await ctx.registry.rules(code)
    return service.preview(principal=principal, data=body, rules=rules, path=path, now=ctx.clock())
