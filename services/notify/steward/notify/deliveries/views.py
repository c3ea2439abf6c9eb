"""Delivery status per message, the dead-letter list (``status=dead_lettered``) and the retry action."""

from __future__ import annotations

import re
import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.auth import Principal
from steward.kit.db import utcnow
from steward.kit.errors import NotFound
from steward.kit.http import DatabaseDep, PrincipalDep
from steward.kit.inputs import clean_request
from steward.kit.paging import keyset_page, scoped
from steward.kit.tenancy import ancestry_of, ensure_visible
from steward.notify.access import READERS, require_admin, subtree_path
from steward.notify.context import CtxDep
from steward.notify.deliveries import service
from steward.notify.deliveries.models import Delivery
from steward.notify.deliveries.schemas import AttemptOut, DeliveryList, DeliveryOut

router = APIRouter(prefix="/v1/deliveries", tags=["deliveries"], dependencies=[Depends(clean_request)])

_PHONE = re.compile(r"^(\+?\d{3})\d{4}(\d{4})$")


def mask(channel: str, address: str) -> str:
    if channel == "sms":
        return _PHONE.sub(r"\1****\2", address)
    if channel in ("webhook", "wecom", "dingtalk", "feishu"):
        return address.split("?", 1)[0]  # robot keys/tokens live in the query string
    return address


def delivery_out(row: Delivery, history: list[AttemptOut] | None = None) -> DeliveryOut:
    data = row.model_dump(exclude={"address"})
    return DeliveryOut(**data, address=mask(row.channel, row.address), history=history)


async def _visible(session: AsyncSession, principal: Principal, delivery_id: uuid.UUID) -> Delivery:
    row = await service.get(session, delivery_id)
    ensure_visible(principal, ancestry_of(row.tenant_path), what="delivery")
    return row


async def list_deliveries(
    session: AsyncSession,
    *,
    scope_path: str | None,
    status: str | None,
    channel: str | None,
    event_id: str | None,
    subscription_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Delivery], str | None]:
    """Newest first, in the subtree at ``scope_path`` (None: everywhere); keyset on (created_at, id)."""
    q = scoped(select(Delivery), Delivery.tenant_path, scope_path)
    if status:
        q = q.where(col(Delivery.status) == status)
    if channel:
        q = q.where(col(Delivery.channel) == channel)
    if event_id:
        q = q.where(col(Delivery.event_id) == event_id)
    if subscription_id:
        q = q.where(col(Delivery.subscription_id) == subscription_id)
    return await keyset_page(session, q, order=(Delivery.created_at, Delivery.id), cursor=cursor, limit=limit)


@router.get(
    "",
    response_model=DeliveryList,
    summary="Deliveries in your subtree; status=dead_lettered is the dead-letter list",
)
async def list_view(
    ctx: CtxDep,
    db: DatabaseDep,
    principal: PrincipalDep,
    status: Literal["pending", "sending", "sent", "dead_lettered", "held", "digested", "skipped"]
    | None = None,
    channel: str | None = Query(default=None, max_length=20),
    event_id: str | None = Query(default=None, max_length=200),
    limit: int = Query(default=50, ge=1, le=200),
    cursor: str | None = None,
) -> DeliveryList:
    principal.require(*READERS)
    try:
        path = await subtree_path(ctx.registry, principal.tenant)
    except NotFound:  # a tenant the registry does not know has no deliveries
        return DeliveryList(items=[], next_cursor=None)
    async with db.read() as session:
        rows, nxt = await list_deliveries(
            session,
            scope_path=path,
            status=status,
            channel=channel,
            event_id=event_id,
            subscription_id=None,
            limit=limit,
            cursor=cursor,
        )
        return DeliveryList(items=[delivery_out(r) for r in rows], next_cursor=nxt)


@router.get("/{delivery_id}", response_model=DeliveryOut, summary="One delivery with its attempts")
async def get_view(db: DatabaseDep, principal: PrincipalDep, delivery_id: uuid.UUID) -> DeliveryOut:
    principal.require(*READERS)
    async with db.read() as session:
        row = await _visible(session, principal, delivery_id)
        history = [
            AttemptOut(
                number=a.number,
                started_at=a.started_at,
                finished_at=a.finished_at,
                outcome=a.outcome,
                error=a.error,
            )
            for a in await service.attempts_of(session, row.id)
        ]
        return delivery_out(row, history)


@router.post(
    "/{delivery_id}/retry", response_model=DeliveryOut, summary="Send a dead-lettered delivery again"
)
async def retry_view(
    request: Request, ctx: CtxDep, db: DatabaseDep, principal: PrincipalDep, delivery_id: uuid.UUID
) -> DeliveryOut:
    require_admin(principal)
    async with db.transaction() as session:
        row = await _visible(session, principal, delivery_id)
        row = await service.retry(session, delivery=row, now=utcnow(), settings=ctx.settings)
        out = delivery_out(row)
    ctx.worker.wake()
    return out
