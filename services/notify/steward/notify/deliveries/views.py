"""Delivery status per message, the dead-letter list (``status=dead_lettered``) and the retry action."""

from __future__ import annotations

import re
import uuid
from typing import Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.auth import Principal
from steward.kit.db import utcnow
from steward.kit.http import DatabaseDep, PrincipalDep
from steward.kit.tenancy import ALL_TENANTS, ancestry_of, ensure_visible
from steward.notify.access import READERS, require_admin
from steward.notify.cursors import decode_keyset, encode_keyset
from steward.notify.deliveries import service
from steward.notify.deliveries.models import Delivery
from steward.notify.deliveries.schemas import AttemptOut, DeliveryList, DeliveryOut
from steward.notify.runtime import runtime_of

router = APIRouter(prefix="/v1/deliveries", tags=["deliveries"])

_PHONE = re.compile(r"^(\+?\d{3})\d{4}(\d{4})$")


def mask(channel: str, address: str) -> str:
    if channel == "sms":
        return _PHONE.sub(r"\1****\2", address)
    if channel in ("webhook", "wecom", "dingtalk", "feishu"):
        return address.split("?", 1)[0]  # robot keys/tokens live in the query string
    return address


def in_path(column: object, tenant: str) -> sa.ColumnElement[bool]:
    """The row's tenant path (``city/district/…``) contains ``tenant``: it lies in its subtree."""
    return sa.func.concat("/", col(column), "/").contains(f"/{tenant}/", autoescape=True)


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
    scope: str,
    status: str | None,
    channel: str | None,
    event_id: str | None,
    subscription_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Delivery], str | None]:
    q = select(Delivery)
    if scope != ALL_TENANTS:
        q = q.where(in_path(Delivery.tenant_path, scope))
    if status:
        q = q.where(col(Delivery.status) == status)
    if channel:
        q = q.where(col(Delivery.channel) == channel)
    if event_id:
        q = q.where(col(Delivery.event_id) == event_id)
    if subscription_id:
        q = q.where(col(Delivery.subscription_id) == subscription_id)
    if cursor:
        at, did = decode_keyset(cursor)
        q = q.where(
            (col(Delivery.created_at) < at) | ((col(Delivery.created_at) == at) & (col(Delivery.id) < did))
        )
    rows = list(
        (
            await session.exec(
                q.order_by(col(Delivery.created_at).desc(), col(Delivery.id).desc()).limit(limit + 1)
            )
        ).all()
    )
    nxt = encode_keyset(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], nxt


@router.get(
    "",
    response_model=DeliveryList,
    summary="Deliveries in your subtree; status=dead_lettered is the dead-letter list",
)
async def list_view(
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
    async with db.read() as session:
        rows, nxt = await list_deliveries(
            session,
            scope=principal.tenant,
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
    request: Request, db: DatabaseDep, principal: PrincipalDep, delivery_id: uuid.UUID
) -> DeliveryOut:
    require_admin(principal)
    rt = runtime_of(request)
    async with db.transaction() as session:
        row = await _visible(session, principal, delivery_id)
        row = await service.retry(session, delivery=row, now=utcnow(), settings=rt.settings)
        out = delivery_out(row)
    rt.worker.wake()
    return out
