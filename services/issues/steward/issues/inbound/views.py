"""REST API of the inbound interface (docs/inbound.md): signed callbacks of an approval system, one
message or a bulk, and the inbound log for administrators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from steward.issues.context import CtxDep
from steward.issues.inbound import service
from steward.issues.inbound.schemas import ApprovalBulk, ApprovalMessage
from steward.kit.auth import Role
from steward.kit.http import PrincipalDep
from steward.kit.inbound import Sender, SignatureHeader, SystemHeader, load_systems, verify_request
from steward.kit.inbound_log import BulkOut, InboundLog, InboundLogItem, InboundResult
from steward.kit.inputs import clean_request
from steward.kit.tenancy import ALL_TENANTS

router = APIRouter(prefix="/v1/inbound/procedures", tags=["inbound"], dependencies=[Depends(clean_request)])
SIGNED = {401: {"description": "Unsigned, unknown system, bad signature or stale timestamp"}}
READERS = (Role.PLATFORM_ADMIN, Role.TENANT_ADMIN, Role.SUPERVISOR, Role.AUDITOR)


async def signed(
    request: Request, ctx: CtxDep, _system: SystemHeader = None, _signature: SignatureHeader = None
) -> Sender:
    systems = load_systems(ctx.settings.inbound_systems, ctx.settings.inbound_systems_file)
    return await verify_request(request, systems, tolerance=ctx.settings.inbound_tolerance_seconds)


SenderDep = Annotated[Sender, Depends(signed)]


@router.post(
    "",
    response_model=InboundResult,
    responses=SIGNED,  # type: ignore[arg-type]
    summary="An approval system reports a procedure accepted, approved (licence no.) or returned",
)
async def receive(ctx: CtxDep, sender: SenderDep, body: ApprovalMessage) -> InboundResult:
    try:
        return await service.receive(ctx.db, sender=sender, raw=body.model_dump(mode="json"), clock=ctx.clock)
    except service.Refused as refused:
        raise refused.error from None


@router.post(
    "/bulk",
    response_model=BulkOut,
    responses=SIGNED,  # type: ignore[arg-type]
    summary="Several approval messages; each applied, answered as a duplicate or refused on its own",
)
async def receive_bulk(ctx: CtxDep, sender: SenderDep, body: ApprovalBulk) -> BulkOut:
    return await service.receive_bulk(ctx.db, sender=sender, messages=body.messages, clock=ctx.clock)


@router.get(
    "/log",
    response_model=InboundLog,
    summary="Inbound messages of the systems configured in my subtree (applied and refused)",
)
async def inbound_log(
    ctx: CtxDep,
    principal: PrincipalDep,
    system: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> InboundLog:
    principal.require(*READERS)
    systems = load_systems(ctx.settings.inbound_systems, ctx.settings.inbound_systems_file)
    visible = [
        name
        for name, s in systems.items()
        if (system is None or name == system)
        and (
            principal.tenant == ALL_TENANTS or principal.tenant in await ctx.registry.ancestry_codes(s.tenant)
        )
    ]
    async with ctx.db.read() as session:
        rows = await service.log(session, systems=visible, limit=limit)
    return InboundLog(
        items=[
            InboundLogItem(
                system=r.system,
                message_id=r.message_id,
                kind=r.kind,
                project_code=r.project_code,
                received_at=r.received_at,
                result=r.result,
                status=r.status,
                error_code=r.error_code,
                target=r.target,
            )
            for r in rows
        ]
    )
