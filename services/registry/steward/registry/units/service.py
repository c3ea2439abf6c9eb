"""Units (departments, enterprises, zone committees, townships) and the people in them."""

from __future__ import annotations

import uuid

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.registry import UnitCreated
from steward.kit.auth import Principal, Role
from steward.kit.changes import record_change
from steward.kit.errors import Conflict, NotFound, ValidationFailed
from steward.kit.paging import keyset_page, scoped
from steward.kit.tenancy import ancestry_of, ensure_visible, ensure_writable, in_subtree
from steward.registry.settings import SOURCE
from steward.registry.tenants.service import get_visible_tenant
from steward.registry.units.access import ensure_person_visible, enterprise_people_clause, mask_email
from steward.registry.units.models import Person, Unit
from steward.registry.units.schemas import PersonCreate, PersonOut, UnitCreate, UnitKind, UnitOut

WRITERS = (Role.PLATFORM_ADMIN, Role.TENANT_ADMIN, Role.DISPATCHER, Role.SPECIALIST)
# Roles that work the phone: they see full numbers; everyone else sees 138****5678 (PIPL).
PHONE_ROLES = (
    Role.PLATFORM_ADMIN,
    Role.TENANT_ADMIN,
    Role.DISPATCHER,
    Role.SPECIALIST,
    Role.STEWARD,
    Role.LEADER,
    Role.SUPERVISOR,
    Role.SERVICE,
)


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    return phone[:3] + "*" * max(0, len(phone) - 7) + phone[-4:] if len(phone) > 7 else "****"


def unit_out(u: Unit) -> UnitOut:
    return UnitOut(
        id=u.id,
        tenant=u.tenant_code,
        kind=UnitKind(u.kind),
        name=u.name,
        credit_code=u.credit_code,
        created_at=u.created_at,
    )


def person_out(p: Person, principal: Principal) -> PersonOut:
    full = principal.has(*PHONE_ROLES) or principal.subject == p.subject
    phone = p.phone if full else mask_phone(p.phone)
    return PersonOut(
        id=p.id,
        tenant=p.tenant_code,
        unit_id=p.unit_id,
        name=p.name,
        title=p.title,
        phone=phone,
        email=p.email if full else mask_email(p.email),
        subject=p.subject,
        created_at=p.created_at,
    )


async def create_unit(session: AsyncSession, *, principal: Principal, data: UnitCreate) -> Unit:
    principal.require(*WRITERS)
    tenant = await get_visible_tenant(session, principal=principal, code=data.tenant)
    ensure_writable(principal, ancestry_of(tenant.path))
    exists = (
        await session.exec(select(Unit).where(Unit.tenant_code == tenant.code, Unit.name == data.name))
    ).first()
    if exists is not None:
        raise Conflict(f"unit {data.name!r} exists in {tenant.code}", code="unit_exists")
    unit = Unit(
        tenant_code=tenant.code,
        tenant_path=tenant.path,
        kind=data.kind.value,
        name=data.name,
        credit_code=data.credit_code,
    )
    session.add(unit)
    await session.flush()
    await record_change(
        session,
        actor=principal.subject,
        tenant=tenant.code,
        action="create",
        entity="unit",
        entity_id=str(unit.id),
        changes=data.model_dump(mode="json"),
        event=UnitCreated(unit_id=str(unit.id), name=unit.name, kind=unit.kind),
        source=SOURCE,
        subject=str(unit.id),
    )
    return unit


async def get_unit(session: AsyncSession, *, principal: Principal, unit_id: uuid.UUID) -> Unit:
    unit = await session.get(Unit, unit_id)
    if unit is None:
        raise NotFound("unit not found")
    ensure_visible(principal, ancestry_of(unit.tenant_path), what="unit")
    return unit


async def list_units(
    session: AsyncSession,
    *,
    principal: Principal,
    tenant: str | None,
    kind: UnitKind | None,
    q: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Unit], str | None]:
    base = await get_visible_tenant(session, principal=principal, code=tenant or principal.tenant)
    stmt = scoped(select(Unit), Unit.tenant_path, base.path)
    if kind:
        stmt = stmt.where(Unit.kind == kind.value)
    if q:
        stmt = stmt.where(col(Unit.name).contains(q, autoescape=True))
    # by id: UUIDv7, i.e. creation order
    return await keyset_page(session, stmt, order=(Unit.id,), cursor=cursor, limit=limit, descending=False)


async def create_person(session: AsyncSession, *, principal: Principal, data: PersonCreate) -> Person:
    principal.require(*WRITERS)
    tenant = await get_visible_tenant(session, principal=principal, code=data.tenant)
    ensure_writable(principal, ancestry_of(tenant.path))
    if data.unit_id is not None:
        unit = await get_unit(session, principal=principal, unit_id=data.unit_id)
        unit_ancestry = ancestry_of(unit.tenant_path)
        tenant_ancestry = ancestry_of(tenant.path)
        if not (in_subtree(tenant.code, unit_ancestry) or in_subtree(unit_ancestry[-1], tenant_ancestry)):
            raise ValidationFailed("the unit belongs to an unrelated tenant", code="unit_out_of_tenant")
    person = Person(tenant_code=tenant.code, tenant_path=tenant.path, **data.model_dump(exclude={"tenant"}))
    session.add(person)
    await session.flush()
    await record_change(
        session,
        actor=principal.subject,
        tenant=tenant.code,
        action="create",
        entity="person",
        entity_id=str(person.id),
        changes={"name": person.name, "unit_id": str(person.unit_id)},
        source=SOURCE,
    )
    return person


async def get_person(session: AsyncSession, *, principal: Principal, person_id: uuid.UUID) -> Person:
    person = await session.get(Person, person_id)
    if person is None:
        raise NotFound("person not found")
    ensure_visible(principal, ancestry_of(person.tenant_path), what="person")
    await ensure_person_visible(session, principal, person)
    return person


async def list_people(
    session: AsyncSession,
    *,
    principal: Principal,
    tenant: str | None,
    unit_id: uuid.UUID | None,
    q: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Person], str | None]:
    base = await get_visible_tenant(session, principal=principal, code=tenant or principal.tenant)
    stmt = scoped(select(Person), Person.tenant_path, base.path)
    if principal.is_enterprise:  # only their own enterprise's and own projects' people
        stmt = stmt.where(enterprise_people_clause(principal))
    if unit_id:
        stmt = stmt.where(Person.unit_id == unit_id)
    if q:
        stmt = stmt.where(col(Person.name).contains(q, autoescape=True))
    return await keyset_page(session, stmt, order=(Person.id,), cursor=cursor, limit=limit, descending=False)
