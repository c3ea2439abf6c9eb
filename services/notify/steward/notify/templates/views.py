"""Templates: the shipped set, per-tenant overrides (tenant admins), and a preview endpoint."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from sqlmodel import col, select

from steward.kit.changes import record_change
from steward.kit.db import utcnow
from steward.kit.errors import NotFound
from steward.kit.http import DatabaseDep, PrincipalDep
from steward.kit.inputs import clean_request
from steward.notify.access import ensure_tenant_visible, ensure_tenant_writable, require_admin
from steward.notify.context import CtxDep
from steward.notify.settings import SOURCE
from steward.notify.templates import service
from steward.notify.templates.defaults import DEFAULTS, Template
from steward.notify.templates.models import TemplateOverride
from steward.notify.templates.samples import SAMPLE_PROJECT, sample_event
from steward.notify.templates.schemas import PreviewIn, PreviewOut, TemplateIn, TemplateList, TemplateOut

router = APIRouter(prefix="/v1/templates", tags=["templates"], dependencies=[Depends(clean_request)])


@router.get(
    "", response_model=TemplateList, summary="Shipped templates plus the overrides of a tenant's ancestry"
)
async def list_view(
    request: Request, ctx: CtxDep, db: DatabaseDep, principal: PrincipalDep, tenant: str | None = None
) -> TemplateList:
    items = [
        TemplateOut(tenant=None, key=k, locale=loc, subject=t.subject, body=t.body, html=t.html)
        for loc, table in DEFAULTS.items()
        for k, t in sorted(table.items())
    ]
    if tenant:
        require_admin(principal)  # overrides are the tenant admins' configuration
        ancestry = await ensure_tenant_visible(ctx.registry, principal, tenant)
        async with db.read() as session:
            rows = (
                await session.exec(select(TemplateOverride).where(col(TemplateOverride.tenant).in_(ancestry)))
            ).all()
        items += [
            TemplateOut(
                tenant=r.tenant,
                key=r.key,
                locale=r.locale,
                subject=r.subject,
                body=r.body,
                html=r.html,
                updated_at=r.updated_at,
            )
            for r in rows
        ]
    return TemplateList(items=items)


@router.put(
    "/{tenant}/{key}/{locale}", response_model=TemplateOut, summary="Override a template for a tenant subtree"
)
async def put_view(
    request: Request,
    ctx: CtxDep,
    db: DatabaseDep,
    principal: PrincipalDep,
    tenant: str,
    key: str,
    locale: str,
    body: TemplateIn,
) -> TemplateOut:
    require_admin(principal)
    await ensure_tenant_writable(ctx.registry, principal, tenant)
    loc = service.normalise_locale(locale)
    service.check_syntax(body.subject, body.body, body.html)
    async with db.transaction() as session:
        row = (
            await session.exec(
                select(TemplateOverride).where(
                    col(TemplateOverride.tenant) == tenant,
                    col(TemplateOverride.key) == key,
                    col(TemplateOverride.locale) == loc,
                )
            )
        ).first() or TemplateOverride(tenant=tenant, key=key, locale=loc, subject="", body="")
        row.subject, row.body, row.html = body.subject, body.body, body.html
        row.updated_by, row.updated_at = principal.subject, utcnow()
        session.add(row)
        await record_change(
            session,
            actor=principal.subject,
            tenant=tenant,
            action="template.put",
            entity="template",
            entity_id=f"{tenant}/{key}/{loc}",
            changes=body.model_dump(),
            source=SOURCE,
        )
        return TemplateOut(
            tenant=tenant,
            key=key,
            locale=loc,
            subject=row.subject,
            body=row.body,
            html=row.html,
            updated_at=row.updated_at,
        )


@router.delete("/{tenant}/{key}/{locale}", status_code=204, response_class=Response)
async def delete_view(
    request: Request,
    ctx: CtxDep,
    db: DatabaseDep,
    principal: PrincipalDep,
    tenant: str,
    key: str,
    locale: str,
) -> Response:
    require_admin(principal)
    await ensure_tenant_writable(ctx.registry, principal, tenant)
    async with db.transaction() as session:
        row = (
            await session.exec(
                select(TemplateOverride).where(
                    col(TemplateOverride.tenant) == tenant,
                    col(TemplateOverride.key) == key,
                    col(TemplateOverride.locale) == service.normalise_locale(locale),
                )
            )
        ).first()
        if row is None:
            raise NotFound("template override not found")
        await session.delete(row)
        await record_change(
            session,
            actor=principal.subject,
            tenant=tenant,
            action="template.deleted",
            entity="template",
            entity_id=f"{tenant}/{key}/{locale}",
            source=SOURCE,
        )
    return Response(status_code=204)


@router.post(
    "/preview",
    response_model=PreviewOut,
    summary="Render a template (stored or draft) with a sample or given event",
)
async def preview_view(
    request: Request, ctx: CtxDep, db: DatabaseDep, principal: PrincipalDep, body: PreviewIn
) -> PreviewOut:
    require_admin(principal)  # renders the tenant's stored overrides
    ancestry = await ensure_tenant_visible(ctx.registry, principal, body.tenant)
    if body.template is not None:
        service.check_syntax(body.template.subject, body.template.body, body.template.html)
        template = Template(body.template.subject, body.template.body, body.template.html)
    else:
        async with db.read() as session:
            template = await service.resolve(session, ancestry=ancestry, key=body.key, locale=body.locale)
    event = body.event or sample_event(body.key, body.tenant)
    short = str(event.get("type", body.key))
    parts = short.split(".")
    short = ".".join(parts[1:-1]) if len(parts) >= 4 else body.key
    values = service.base_context(event, short_type=short)
    values.update(
        project=SAMPLE_PROJECT if body.event is None else {},
        recipient={"name": body.recipient_name, "role": "agent"},
        severity="warning",
        link=f"{ctx.settings.public_base_url}/v1/inbox",
    )
    r = service.render(template, values, locale=body.locale)
    return PreviewOut(subject=r.subject, body=r.body, html=r.html)
