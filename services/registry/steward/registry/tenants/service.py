"""Tenant tree: create children, read a subtree, resolve ancestry."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.registry import TenantCreated
from steward.kit.auth import Principal, Role
from steward.kit.changes import record_change
from steward.kit.errors import Conflict, NotFound, ValidationFailed
from steward.kit.paging import scoped
from steward.kit.straight import all_rows
from steward.kit.tenancy import ancestry_of, ensure_writable, in_subtree
from steward.registry.settings import SOURCE
from steward.registry.tenants.models import Tenant
from steward.registry.tenants.schemas import TenantCreate, TenantKind, TenantOut

CHILD_KINDS = {
    TenantKind.CITY: {TenantKind.DISTRICT, TenantKind.COUNTY, TenantKind.ZONE},
    TenantKind.DISTRICT: {TenantKind.ZONE, TenantKind.TOWNSHIP, TenantKind.STREET},
    TenantKind.COUNTY: {TenantKind.ZONE, TenantKind.TOWNSHIP, TenantKind.STREET},
    TenantKind.ZONE: {TenantKind.TOWNSHIP, TenantKind.STREET},
}


def to_out(t: Tenant) -> TenantOut:
    kind = TenantKind(t.kind)
    return TenantOut(
        code=t.code,
        name=t.name,
        kind=kind,
        parent=t.parent_code,
        path=t.path,
        level=kind.level,
        created_at=t.created_at,
    )


async def get_tenant(session: AsyncSession, *, code: str) -> Tenant:
    tenant = await session.get(Tenant, code)
    if tenant is None:
        raise NotFound(f"tenant {code} not found", code="unknown_tenant")
    return tenant


@dataclass(frozen=True, slots=True)
class TenantRef:
    """What hot paths need of a tenant: its code, path and kind (never changed once created)."""

    code: str
    path: str
    kind: str


# per database (engine): tenants are never updated or deleted, so a tenant read once stays as read;
# a code not found is not remembered (it may be created)
_REFS: weakref.WeakKeyDictionary[Any, dict[str, TenantRef]] = weakref.WeakKeyDictionary()
MAX_REFS = 50_000
_T = TypeVar("_T", Tenant, TenantRef)


async def visible_tenant_ref(session: AsyncSession, *, principal: Principal, code: str) -> TenantRef:
    """:func:`get_visible_tenant`'s check, answered from memory after a tenant's first read (a
    registration or a list page spent 8% of its CPU reading the tenant row)."""
    refs = _REFS.setdefault(session.bind, {})
    ref = refs.get(code)
    if ref is None:
        # straight through the driver, without BEGIN (a registration's one write then goes alone,
        # in a lone session too: kit.pooled.lone_session)
        found = await all_rows(session, _REF, {"code": code}, begin=False)
        if found:
            if len(refs) >= MAX_REFS:
                refs.clear()
            ref = refs[code] = TenantRef(*found[0])
    return _visible(principal, code, ref)


_REF = sa.text("SELECT code, path, kind FROM tenants WHERE code = :code")


async def get_visible_tenant(session: AsyncSession, *, principal: Principal, code: str) -> Tenant:
    return _visible(principal, code, await session.get(Tenant, code))


def _visible(principal: Principal, code: str, tenant: _T | None) -> _T:
    if tenant is None or not in_subtree(principal.tenant, ancestry_of(tenant.path)):
        # outside the caller's subtree looks exactly like a tenant that does not exist
        raise NotFound(f"tenant {code} not found", code="unknown_tenant")
    return tenant


async def ancestry(session: AsyncSession, *, code: str) -> list[Tenant]:
    tenant = await get_tenant(session, code=code)
    codes = ancestry_of(tenant.path)
    rows = (await session.exec(select(Tenant).where(col(Tenant.code).in_(codes)))).all()
    by_code = {t.code: t for t in rows}
    return [by_code[c] for c in codes]


async def list_subtree(
    session: AsyncSession, *, principal: Principal, root: str | None = None
) -> list[Tenant]:
    base = await get_visible_tenant(session, principal=principal, code=root or principal.tenant)
    stmt = scoped(select(Tenant), Tenant.path, base.path).order_by(col(Tenant.path))

    return list((await session.exec(stmt)).all())


async def create_root(session: AsyncSession, *, code: str, name: str) -> Tenant:
    """A city tenant (tree root). Only the CLI / demo seeding creates roots."""
    tenant = Tenant(code=code, name=name, kind=TenantKind.CITY.value, parent_code=None, path=code)
    session.add(tenant)
    await session.flush()
    return tenant


async def create_tenant(session: AsyncSession, *, principal: Principal, data: TenantCreate) -> Tenant:
    principal.require(Role.PLATFORM_ADMIN, Role.TENANT_ADMIN)
    parent = await get_visible_tenant(session, principal=principal, code=data.parent)
    ensure_writable(principal, ancestry_of(parent.path))
    allowed = CHILD_KINDS.get(TenantKind(parent.kind), set())
    if data.kind not in allowed:
        raise ValidationFailed(
            f"a {parent.kind} cannot contain a {data.kind.value}",
            code="invalid_tenant_kind",
            details=[
                {"loc": ["kind"], "message": f"allowed: {sorted(k.value for k in allowed)}", "type": "enum"}
            ],
        )
    prefix = parent.code[:4] if parent.kind == TenantKind.CITY and parent.code.endswith("00") else parent.code
    if not data.code.startswith(prefix) or data.code == parent.code:
        raise ValidationFailed(
            f"code {data.code} does not belong under {parent.code} (must start with {prefix})",
            code="invalid_tenant_code",
            details=[{"loc": ["code"], "message": f"must start with {prefix}", "type": "value_error"}],
        )
    if await session.get(Tenant, data.code) is not None:
        raise Conflict(f"tenant {data.code} exists", code="tenant_exists")
    tenant = Tenant(
        code=data.code,
        name=data.name,
        kind=data.kind.value,
        parent_code=parent.code,
        path=f"{parent.path}/{data.code}",
    )
    session.add(tenant)
    await record_change(
        session,
        actor=principal.subject,
        tenant=tenant.code,
        action="create",
        entity="tenant",
        entity_id=tenant.code,
        changes=data.model_dump(mode="json"),
        event=TenantCreated(code=tenant.code, name=tenant.name, kind=tenant.kind, parent=parent.code),
        source=SOURCE,
        subject=tenant.code,
    )
    await session.flush()
    return tenant
