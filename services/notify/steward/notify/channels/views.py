"""Tenant channel endpoints (group robots, generic webhooks) — tenant admins."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request, Response
from sqlmodel import col, select

from steward.kit import sealing
from steward.kit.changes import record_change
from steward.kit.errors import NotFound
from steward.kit.http import DatabaseDep, PrincipalDep
from steward.kit.inputs import clean_request
from steward.notify.access import ensure_tenant_visible, ensure_tenant_writable, require_admin
from steward.notify.channels.models import ChannelEndpoint
from steward.notify.channels.schemas import EndpointIn, EndpointList, EndpointOut
from steward.notify.channels.urls import validate_url
from steward.notify.context import CtxDep
from steward.notify.settings import SOURCE

router = APIRouter(prefix="/v1/channel-endpoints", tags=["channels"], dependencies=[Depends(clean_request)])


def _out(e: ChannelEndpoint) -> EndpointOut:
    return EndpointOut(
        **e.model_dump(exclude={"secret", "url"}), url=e.url.split("?", 1)[0], has_secret=bool(e.secret)
    )


@router.post("", response_model=EndpointOut, status_code=201)
async def create_view(
    request: Request, ctx: CtxDep, db: DatabaseDep, principal: PrincipalDep, body: EndpointIn
) -> EndpointOut:
    require_admin(principal)
    await ensure_tenant_writable(ctx.registry, principal, body.tenant)
    await validate_url(body.url, ctx.settings)
    async with db.transaction() as session:
        row = ChannelEndpoint(**body.model_dump())
        row.secret = sealing.box().seal_optional(row.secret)  # sealed at rest, never shown again
        session.add(row)
        await record_change(
            session,
            actor=principal.subject,
            tenant=body.tenant,
            action="endpoint.created",
            entity="channel_endpoint",
            entity_id=str(row.id),
            changes={"channel": body.channel, "name": body.name},
            source=SOURCE,
        )
        return _out(row)


@router.get("", response_model=EndpointList)
async def list_view(
    request: Request, ctx: CtxDep, db: DatabaseDep, principal: PrincipalDep, tenant: str
) -> EndpointList:
    require_admin(principal)
    await ensure_tenant_visible(ctx.registry, principal, tenant)
    async with db.read() as session:
        rows = (
            await session.exec(select(ChannelEndpoint).where(col(ChannelEndpoint.tenant) == tenant))
        ).all()
    return EndpointList(items=[_out(r) for r in rows])


@router.delete("/{endpoint_id}", status_code=204, response_class=Response)
async def delete_view(
    request: Request, ctx: CtxDep, db: DatabaseDep, principal: PrincipalDep, endpoint_id: uuid.UUID
) -> Response:
    require_admin(principal)
    async with db.transaction() as session:
        row = await session.get(ChannelEndpoint, endpoint_id)
        if row is None:
            raise NotFound("endpoint not found")
        await ensure_tenant_writable(ctx.registry, principal, row.tenant)
        await session.delete(row)
        await record_change(
            session,
            actor=principal.subject,
            tenant=row.tenant,
            action="endpoint.deleted",
            entity="channel_endpoint",
            entity_id=str(row.id),
            source=SOURCE,
        )
    return Response(status_code=204)
