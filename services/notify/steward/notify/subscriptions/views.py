"""Agency webhook subscriptions: create, list, update, delete, rotate the secret; their failed and
dead-lettered deliveries and a replay action."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlmodel import col, select

from steward.kit.changes import record_change
from steward.kit.db import utcnow
from steward.kit.errors import NotFound
from steward.kit.http import DatabaseDep, PrincipalDep
from steward.kit.inputs import clean_request
from steward.notify.context import CtxDep
from steward.notify.deliveries import service as deliveries
from steward.notify.deliveries.models import Delivery, Status
from steward.notify.deliveries.schemas import DeliveryList
from steward.notify.deliveries.views import delivery_out, list_deliveries
from steward.notify.settings import SOURCE
from steward.notify.subscriptions import service
from steward.notify.subscriptions.schemas import (
    ReplayResult,
    SubscriptionCreate,
    SubscriptionList,
    SubscriptionOut,
    SubscriptionUpdate,
)

router = APIRouter(
    prefix="/v1/subscriptions", tags=["agency subscriptions"], dependencies=[Depends(clean_request)]
)


@router.post(
    "",
    response_model=SubscriptionOut,
    status_code=201,
    summary="Subscribe a webhook to event types of a tenant subtree",
)
async def create_view(
    request: Request, ctx: CtxDep, db: DatabaseDep, principal: PrincipalDep, body: SubscriptionCreate
) -> SubscriptionOut:
    async with db.transaction() as session:
        sub = await service.create(
            session,
            principal=principal,
            data=body,
            registry=ctx.registry,
            settings=ctx.settings,
            now=utcnow(),
        )
        return service.out(sub, with_secret=True)


@router.get("", response_model=SubscriptionList)
async def list_view(db: DatabaseDep, principal: PrincipalDep) -> SubscriptionList:
    async with db.read() as session:
        return SubscriptionList(
            items=[service.out(s) for s in await service.list_own(session, principal=principal)]
        )


@router.get("/{sub_id}", response_model=SubscriptionOut)
async def get_view(
    request: Request, ctx: CtxDep, db: DatabaseDep, principal: PrincipalDep, sub_id: uuid.UUID
) -> SubscriptionOut:
    async with db.read() as session:
        return service.out(
            await service.get(session, principal=principal, sub_id=sub_id, registry=ctx.registry)
        )


@router.patch("/{sub_id}", response_model=SubscriptionOut)
async def update_view(
    request: Request,
    ctx: CtxDep,
    db: DatabaseDep,
    principal: PrincipalDep,
    sub_id: uuid.UUID,
    body: SubscriptionUpdate,
) -> SubscriptionOut:
    async with db.transaction() as session:
        sub = await service.get(session, principal=principal, sub_id=sub_id, registry=ctx.registry)
        sub = await service.update(
            session, sub=sub, principal=principal, data=body, settings=ctx.settings, now=utcnow()
        )
        return service.out(sub)


@router.post("/{sub_id}/rotate-secret", response_model=SubscriptionOut)
async def rotate_view(
    request: Request, ctx: CtxDep, db: DatabaseDep, principal: PrincipalDep, sub_id: uuid.UUID
) -> SubscriptionOut:
    async with db.transaction() as session:
        sub = await service.get(session, principal=principal, sub_id=sub_id, registry=ctx.registry)
        sub.secret = service.new_sealed_secret()
        sub.updated_at = utcnow()
        session.add(sub)
        await record_change(
            session,
            actor=principal.subject,
            tenant=sub.tenant,
            action="subscription.secret_rotated",
            entity="agency_subscription",
            entity_id=str(sub.id),
            source=SOURCE,
        )
        return service.out(sub, with_secret=True)


@router.delete("/{sub_id}", status_code=204, response_class=Response)
async def delete_view(
    request: Request, ctx: CtxDep, db: DatabaseDep, principal: PrincipalDep, sub_id: uuid.UUID
) -> Response:
    async with db.transaction() as session:
        sub = await service.get(session, principal=principal, sub_id=sub_id, registry=ctx.registry)
        await record_change(
            session,
            actor=principal.subject,
            tenant=sub.tenant,
            action="subscription.deleted",
            entity="agency_subscription",
            entity_id=str(sub.id),
            source=SOURCE,
        )
        await session.delete(sub)
    return Response(status_code=204)


@router.get(
    "/{sub_id}/deliveries",
    response_model=DeliveryList,
    summary="This subscription's deliveries (e.g. status=dead_lettered)",
)
async def deliveries_view(
    request: Request,
    ctx: CtxDep,
    db: DatabaseDep,
    principal: PrincipalDep,
    sub_id: uuid.UUID,
    status: Literal["pending", "sending", "sent", "dead_lettered", "skipped"] | None = None,
    limit: int = Query(default=50, ge=1, le=200),
    cursor: str | None = None,
) -> DeliveryList:
    async with db.read() as session:
        sub = await service.get(session, principal=principal, sub_id=sub_id, registry=ctx.registry)
        rows, nxt = await list_deliveries(
            session,
            scope_path=None,  # the subscription itself was checked above
            status=status,
            channel=None,
            event_id=None,
            subscription_id=sub.id,
            limit=limit,
            cursor=cursor,
        )
        return DeliveryList(items=[delivery_out(r) for r in rows], next_cursor=nxt)


@router.post(
    "/{sub_id}/replay",
    response_model=ReplayResult,
    summary="Send this subscription's dead-lettered deliveries again",
)
async def replay_view(
    request: Request, ctx: CtxDep, db: DatabaseDep, principal: PrincipalDep, sub_id: uuid.UUID
) -> ReplayResult:
    now = utcnow()
    async with db.transaction() as session:
        sub = await service.get(session, principal=principal, sub_id=sub_id, registry=ctx.registry)
        rows = (
            await session.exec(
                select(Delivery)
                .where(
                    col(Delivery.subscription_id) == sub.id,
                    col(Delivery.status) == Status.DEAD_LETTERED.value,
                )
                .with_for_update()
            )
        ).all()
        for row in rows:
            await deliveries.retry(session, delivery=row, now=now, settings=ctx.settings)
    ctx.worker.wake()
    return ReplayResult(replayed=len(rows))


@router.post("/{sub_id}/deliveries/{delivery_id}/retry", response_model=ReplayResult)
async def retry_one_view(
    request: Request,
    ctx: CtxDep,
    db: DatabaseDep,
    principal: PrincipalDep,
    sub_id: uuid.UUID,
    delivery_id: uuid.UUID,
) -> ReplayResult:
    async with db.transaction() as session:
        sub = await service.get(session, principal=principal, sub_id=sub_id, registry=ctx.registry)
        row = await deliveries.get(session, delivery_id)
        if row.subscription_id != sub.id:
            raise NotFound("delivery not found")
        await deliveries.retry(session, delivery=row, now=utcnow(), settings=ctx.settings)
    ctx.worker.wake()
    return ReplayResult(replayed=1)
