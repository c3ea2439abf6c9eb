"""Agency subscriptions: created by role ``agency`` (or admins) for a tenant inside their subtree;
agencies see and change only their own."""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit import sealing
from steward.kit.auth import Principal, Role
from steward.kit.changes import record_change
from steward.kit.clients.registry import RegistryClient
from steward.kit.errors import Forbidden, NotFound, ValidationFailed
from steward.kit.tenancy import ALL_TENANTS
from steward.notify.access import ADMINS, ensure_tenant_writable
from steward.notify.channels.urls import validate_url
from steward.notify.settings import SOURCE, NotifySettings
from steward.notify.subscriptions.models import AgencySubscription
from steward.notify.subscriptions.schemas import SubscriptionCreate, SubscriptionOut, SubscriptionUpdate

_GLOB = re.compile(r"^[a-z0-9_.*?\[\]-]+$")


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def new_sealed_secret() -> str:
    """A new signing secret, sealed for storage (steward.kit.sealing); shown once, by :func:`out`."""
    return sealing.box().seal(new_secret())


def _check_globs(globs: list[str]) -> list[str]:
    bad = [g for g in globs if not _GLOB.match(g)]
    if bad:
        raise ValidationFailed(f"invalid event type globs: {bad}", code="invalid_event_types")
    return sorted(set(globs))


def out(sub: AgencySubscription, *, with_secret: bool = False) -> SubscriptionOut:
    secret = sealing.box().open(sub.secret) if with_secret else None
    return SubscriptionOut(**sub.model_dump(exclude={"secret"}), secret=secret)


def _may_manage(principal: Principal) -> None:
    if not principal.has(Role.AGENCY, *ADMINS):
        raise Forbidden("requires the agency role (or an admin)", code="role_required")


async def create(
    session: AsyncSession,
    *,
    principal: Principal,
    data: SubscriptionCreate,
    registry: RegistryClient,
    settings: NotifySettings,
    now: datetime,
) -> AgencySubscription:
    _may_manage(principal)
    await ensure_tenant_writable(registry, principal, data.tenant)
    await validate_url(data.url, settings)
    sub = AgencySubscription(
        tenant=data.tenant,
        owner_subject=principal.subject,
        name=data.name,
        url=data.url,
        secret=new_sealed_secret(),
        event_types=_check_globs(data.event_types),
        enabled=data.enabled,
        created_at=now,
        updated_at=now,
    )
    session.add(sub)
    await record_change(
        session,
        actor=principal.subject,
        tenant=data.tenant,
        action="subscription.created",
        entity="agency_subscription",
        entity_id=str(sub.id),
        changes={"url": data.url, "event_types": sub.event_types},
        source=SOURCE,
    )
    return sub


def _visible(principal: Principal, sub: AgencySubscription, ancestry_ok: bool) -> None:
    if principal.tenant == ALL_TENANTS:
        return
    if principal.has(Role.PLATFORM_ADMIN, Role.TENANT_ADMIN) and ancestry_ok:
        return
    if sub.owner_subject != principal.subject:
        raise NotFound("subscription not found")


async def get(
    session: AsyncSession, *, principal: Principal, sub_id: uuid.UUID, registry: RegistryClient
) -> AgencySubscription:
    _may_manage(principal)
    sub = await session.get(AgencySubscription, sub_id)
    if sub is None:
        raise NotFound("subscription not found")
    ancestry_ok = principal.tenant in await registry.ancestry_codes(sub.tenant)
    _visible(principal, sub, ancestry_ok)
    return sub


async def list_own(session: AsyncSession, *, principal: Principal) -> list[AgencySubscription]:
    _may_manage(principal)
    q = select(AgencySubscription)
    if (principal.has(Role.AGENCY) and not principal.has(*ADMINS)) or principal.tenant != ALL_TENANTS:
        q = q.where(col(AgencySubscription.owner_subject) == principal.subject)
    return list((await session.exec(q.order_by(col(AgencySubscription.created_at)))).all())


async def update(
    session: AsyncSession,
    *,
    sub: AgencySubscription,
    principal: Principal,
    data: SubscriptionUpdate,
    settings: NotifySettings,
    now: datetime,
) -> AgencySubscription:
    changes = data.model_dump(exclude_none=True)
    if "url" in changes:
        await validate_url(changes["url"], settings)
    if "event_types" in changes:
        changes["event_types"] = _check_globs(changes["event_types"])
    for k, v in changes.items():
        setattr(sub, k, v)
    sub.updated_at = now
    session.add(sub)
    await record_change(
        session,
        actor=principal.subject,
        tenant=sub.tenant,
        action="subscription.updated",
        entity="agency_subscription",
        entity_id=str(sub.id),
        changes=changes,
        source=SOURCE,
    )
    return sub
