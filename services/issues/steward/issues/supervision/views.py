"""REST API of supervision orders (督办单)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from steward.issues.context import CtxDep
from steward.issues.matters.views import TenantQuery, base_path
from steward.issues.supervision import service
from steward.issues.supervision.models import SupervisionOrder
from steward.issues.supervision.schemas import OrderCreate, OrderList, OrderOut, OrderResponse
from steward.kit.calendar import DEFAULT_TZ
from steward.kit.http import PrincipalDep
from steward.kit.inputs import clean_request

router = APIRouter(tags=["supervision"], dependencies=[Depends(clean_request)])


def out(o: SupervisionOrder) -> OrderOut:
    return OrderOut(
        id=o.id,
        matter_id=o.matter_id,
        tenant=o.tenant_code,
        issued_by=o.issued_by,
        issuer_tenant=o.issuer_tenant,
        instructions=o.instructions,
        issued_at=o.issued_at,
        due_at=o.due_at.astimezone(DEFAULT_TZ),
        status=o.status,
        overdue=o.overdue,
        response=o.response,
        responded_by=o.responded_by,
        responded_at=o.responded_at,
    )


@router.post(
    "/v1/matters/{key}/supervision-orders",
    response_model=OrderOut,
    status_code=201,
    summary="Issue a supervision order (督办单) with its own deadline",
)
async def issue(ctx: CtxDep, principal: PrincipalDep, key: str, body: OrderCreate) -> OrderOut:
    async with ctx.db.transaction() as session:
        return out(await service.issue(session, principal=principal, key=key, body=body, now=ctx.clock()))


@router.post("/v1/supervision-orders/{order_id}/respond", response_model=OrderOut)
async def respond(ctx: CtxDep, principal: PrincipalDep, order_id: uuid.UUID, body: OrderResponse) -> OrderOut:
    async with ctx.db.transaction() as session:
        return out(
            await service.respond(
                session, principal=principal, order_id=order_id, text=body.text, now=ctx.clock()
            )
        )


@router.get("/v1/supervision-orders", response_model=OrderList, summary="Supervision orders in my subtree")
async def list_orders(
    ctx: CtxDep,
    principal: PrincipalDep,
    tenant: TenantQuery = None,
    overdue: bool | None = None,
    open_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> OrderList:
    path = await base_path(ctx, principal, tenant)
    async with ctx.db.read() as session:
        rows = await service.list_orders(
            session, principal=principal, base_path=path, overdue=overdue, open_only=open_only, limit=limit
        )
        return OrderList(items=[out(o) for o in rows])
