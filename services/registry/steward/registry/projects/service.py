"""Projects: registration with a lifetime code and rule-derived dispatch, updates, lifecycle."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.registry import ProjectRegistered, ProjectUpdated
from steward.kit import audit, writes
from steward.kit.auth import Principal, Role
from steward.kit.changes import record_change
from steward.kit.db import Database, construct, utcnow
from steward.kit.errors import Conflict, NotFound, ValidationFailed
from steward.kit.keyqueue import KeyQueue
from steward.kit.loads import Load, by_id_or_key
from steward.kit.straight import all_rows
from steward.kit.tenancy import ancestry_of, ensure_visible, ensure_writable
from steward.registry.projects.models import Project, StageChange
from steward.registry.projects.schemas import (
    Dispatch,
    FundingType,
    KeyLevel,
    Location,
    ProjectCreate,
    ProjectOut,
    ProjectUpdate,
)
from steward.registry.projects.stages import Stage
from steward.registry.rules import service as rules
from steward.registry.settings import SOURCE
from steward.registry.tenants.models import Tenant
from steward.registry.tenants.schemas import TenantKind
from steward.registry.tenants.service import TenantRef, visible_tenant_ref
from steward.rules import derive_dispatch

WRITERS = (Role.PLATFORM_ADMIN, Role.TENANT_ADMIN, Role.DISPATCHER, Role.SPECIALIST, Role.STEWARD)


async def derive(
    session: AsyncSession, *, tenant: Tenant | TenantRef, investment: Decimal, funding_type: str, at: datetime
) -> dict[str, Any]:
    """Dispatch derived under the rules in force at ``at``; stored with the project as its history."""
    eff = await rules.effective(session, tenant=tenant.code, at=at, path=tenant.path)
    return derivation(eff, tenant=tenant, investment=investment, funding_type=funding_type, at=at)


def derivation(
    eff: rules.Effective, *, tenant: Tenant | TenantRef, investment: Decimal, funding_type: str, at: datetime
) -> dict[str, Any]:
    """The dispatch under the effective rules ``eff`` (also for a batch that fetched them once)."""
    d = derive_dispatch(
        eff.document.thresholds,
        investment=investment,
        funding_type=funding_type,
        tenant_level=TenantKind(tenant.kind).level,
    )
    return {
        "tier": d.tier,
        "on_platform": d.on_platform,
        "steward_required": d.steward_required,
        "named_responsibility": d.named_responsibility,
        "city_department_dispatch": d.city_department_dispatch,
        "reasons": d.reasons,
        "rules_versions": [f"{v.tenant_code}@{v.version}" for v in eff.versions],
        "derived_at": at.isoformat(),
    }


# the counter, taken inside a registration's one statement (kit.writes.Taken): the code itself,
# 一项一码 ``<tenant>-<year>-<seq>``; a constant statement (no Core tree built per registration)
_CODE = sa.text(
    "INSERT INTO project_code_counters (tenant_code, year, last) VALUES (:c_tenant, :c_year, 1) "
    "ON CONFLICT (tenant_code, year) DO UPDATE SET last = project_code_counters.last + 1 "
    "RETURNING :c_prefix || lpad(last::text, greatest(5, length(last::text)), '0') AS value"
).bindparams(
    sa.bindparam("c_tenant", type_=sa.String()),
    sa.bindparam("c_year", type_=sa.Integer()),
    sa.bindparam("c_prefix", type_=sa.String()),
)
# a tenant's registrations in this process take their turns at the counter row in arrival order,
# at most 8 of their statements at once (as for matter numbers: more only wait on its lock)
_CODE_TURNS = KeyQueue(width=8)


def _apply_dispatch(project: Project, derivation: dict[str, Any]) -> None:
    project.tier = derivation["tier"]
    project.on_platform = derivation["on_platform"]
    project.steward_required = derivation["steward_required"]
    project.named_responsibility = derivation["named_responsibility"]
    project.derivation = derivation


# the registration's look-ups go straight through the driver without BEGIN (its one write then goes
# alone, in a lone session too: kit.pooled.lone_session)
_UNIT = sa.text("SELECT kind, tenant_path FROM units WHERE id = :id").bindparams(
    sa.bindparam("id", type_=sa.Uuid())
)
_NATIONAL_CODE = sa.text("SELECT id FROM projects WHERE national_code = :code LIMIT 2")


async def _owner(session: AsyncSession, principal: Principal, owner_unit_id: uuid.UUID | None) -> None:
    if owner_unit_id is None:
        return
    found = await all_rows(session, _UNIT, {"id": owner_unit_id}, begin=False)
    if not found or found[0][0] != "enterprise":
        raise ValidationFailed(
            "owner_unit_id must name an enterprise unit",
            code="invalid_owner",
            details=[{"loc": ["owner_unit_id"], "message": "unknown enterprise", "type": "value_error"}],
        )
    ensure_visible(principal, ancestry_of(found[0][1]), what="owner unit")


async def _ensure_national_code_free(
    session: AsyncSession, national_code: str, *, project_id: uuid.UUID | None = None
) -> None:
    """One project per national code; the unique index backs this under races (422 invalid_data)."""
    others = await all_rows(session, _NATIONAL_CODE, {"code": national_code}, begin=False)
    if any(other[0] != project_id for other in others):
        raise Conflict(
            f"national project code {national_code} is already on another project",
            code="national_code_taken",
            details=[{"loc": ["national_code"], "message": "already in use", "type": "conflict"}],
        )


async def register(session: AsyncSession, *, principal: Principal, data: ProjectCreate) -> Project:
    """Write the project, its first stage, audit entry and event, its code taken by that one
    statement. The caller's transaction does nothing else (the REST view), so the statement goes as
    a transaction of its own when nothing was sent before it (the rules in force are read outside the
    transaction: ``rules.versions_in_force``; an owner unit or a national code is checked first,
    inside it)."""
    principal.require(*WRITERS)
    tenant = await visible_tenant_ref(session, principal=principal, code=data.tenant)
    ensure_writable(principal, ancestry_of(tenant.path))
    await _owner(session, principal, data.owner_unit_id)
    if data.stage in (Stage.SUSPENDED, Stage.TERMINATED):
        raise ValidationFailed("a project cannot be registered suspended or terminated", code="invalid_stage")
    if data.national_code:
        await _ensure_national_code_free(session, data.national_code)
    now = utcnow()
    derivation = await derive(
        session, tenant=tenant, investment=data.total_investment, funding_type=data.funding_type.value, at=now
    )
    loc = data.location
    taken = writes.Taken(
        _CODE, {"c_tenant": tenant.code, "c_year": now.year, "c_prefix": f"{tenant.code}-{now.year}-"}
    )
    project = construct(
        Project,
        code=taken.token,
        national_code=data.national_code,
        tenant_code=tenant.code,
        tenant_path=tenant.path,
        name=data.name,
        owner_unit_id=data.owner_unit_id,
        total_investment=data.total_investment,
        annual_plan_investment=data.annual_plan_investment,
        funding_type=data.funding_type.value,
        industry=data.industry,
        key_level=data.key_level.value,
        major=data.major,
        stage=data.stage.value,
        lat=loc.lat if loc else None,
        lon=loc.lon if loc else None,
        address=loc.address if loc else "",
        planned_start=data.planned_start,
        planned_completion=data.planned_completion,
        created_by=principal.subject,
        created_at=now,
        updated_at=now,
        tier="none",
        on_platform=False,
        steward_required=False,
        named_responsibility=False,
    )
    _apply_dispatch(project, derivation)
    # project, stage, audit, event, NOTIFY and its code: one statement
    async with (
        _CODE_TURNS.turn(session, (tenant.code, now.year)),
        writes.batched(session, last=True) as batch,
    ):
        batch.take(taken)
        writes.add(session, project, attach=True)
        writes.add(
            session,
            construct(
                StageChange,
                project_id=project.id,
                from_stage=None,
                to_stage=project.stage,
                reason="registered",
                actor=principal.subject,
                at=now,
            ),
        )
        await record_change(
            session,
            actor=principal.subject,
            tenant=tenant.code,
            action="create",
            entity="project",
            entity_id=str(project.id),
            changes=data.model_dump(mode="json"),
            event=ProjectRegistered(
                project_id=str(project.id),
                code=project.code,
                national_code=project.national_code,
                name=project.name,
                owner_unit_id=str(project.owner_unit_id) if project.owner_unit_id else None,
                total_investment=f"{project.total_investment:.2f}",
                funding_type=project.funding_type,
                key_level=project.key_level,
                stage=project.stage,
                tier=project.tier,
                on_platform=project.on_platform,
                steward_required=project.steward_required,
                named_responsibility=project.named_responsibility,
                planned_start=project.planned_start.isoformat() if project.planned_start else None,
                planned_completion=project.planned_completion.isoformat()
                if project.planned_completion
                else None,
                annual_plan_investment=f"{project.annual_plan_investment:.2f}"
                if project.annual_plan_investment is not None
                else None,
            ),
            source=SOURCE,
            subject=str(project.id),
        )
    return project


def ensure_can_see(principal: Principal, project: Project) -> None:
    ensure_visible(principal, ancestry_of(project.tenant_path), what="project")
    if principal.is_enterprise and (principal.unit is None or str(project.owner_unit_id) != principal.unit):
        raise NotFound("project not found")


async def get_project(
    session: AsyncSession, *, principal: Principal, id_or_code: str, lock: bool = False
) -> Project:
    try:
        key: Any = Project.id == uuid.UUID(id_or_code)
    except ValueError:
        key = Project.code == id_or_code
    stmt = select(Project).where(key)
    if lock:
        stmt = stmt.with_for_update()
    return _visible(principal, (await session.exec(stmt)).first())


_BY_ID = Load(Project, Project.id == sa.bindparam("id"))
_BY_CODE = Load(Project, Project.code == sa.bindparam("key"))


async def read_project(db: Database, *, principal: Principal, id_or_code: str) -> Project:
    """:func:`get_project` for a view that reads nothing else: straight through the driver, no session."""
    project = await by_id_or_key(db, id_or_code, by_id=_BY_ID, by_key=_BY_CODE)
    return _visible(principal, project)


def _visible(principal: Principal, project: Project | None) -> Project:
    if project is None:
        raise NotFound("project not found")
    ensure_can_see(principal, project)
    return project


_SIMPLE_FIELDS = (
    "name",
    "industry",
    "major",
    "planned_start",
    "planned_completion",
    "annual_plan_investment",
)


async def update(
    session: AsyncSession, *, principal: Principal, id_or_code: str, data: ProjectUpdate
) -> Project:
    principal.require(*WRITERS)
    project = await get_project(session, principal=principal, id_or_code=id_or_code, lock=True)
    ensure_writable(principal, ancestry_of(project.tenant_path))
    if data.expected_version is not None and data.expected_version != project.row_version:
        raise Conflict("the project changed since you read it", code="stale_version")
    given = data.model_dump(exclude_unset=True, exclude={"expected_version"})
    changes: dict[str, list[Any]] = {}

    def _set(attr: str, value: Any) -> None:
        old = getattr(project, attr)
        if old != value:
            changes[attr] = [audit.plain(old), audit.plain(value)]
            setattr(project, attr, value)

    for attr in _SIMPLE_FIELDS:
        if attr in given:
            _set(attr, getattr(data, attr))
    if "owner_unit_id" in given:
        await _owner(session, principal, data.owner_unit_id)
        _set("owner_unit_id", data.owner_unit_id)
    if "funding_type" in given and data.funding_type is not None:
        _set("funding_type", data.funding_type.value)
    if "key_level" in given and data.key_level is not None:
        _set("key_level", data.key_level.value)
    if "national_code" in given:
        if data.national_code:
            await _ensure_national_code_free(session, data.national_code, project_id=project.id)
        _set("national_code", data.national_code)
    if "total_investment" in given and data.total_investment is not None:
        _set("total_investment", data.total_investment)
    if "location" in given:
        loc = data.location
        _set("lat", loc.lat if loc else None)
        _set("lon", loc.lon if loc else None)
        _set("address", loc.address if loc else "")
    if (
        project.planned_start
        and project.planned_completion
        and project.planned_completion < project.planned_start
    ):
        raise ValidationFailed("planned_completion is before planned_start", code="invalid_dates")
    if not changes:
        return project
    if "total_investment" in changes or "funding_type" in changes:
        # re-valued: derive again under the rules in force now, and say so in the history
        tenant = await session.get(Tenant, project.tenant_code)
        assert tenant is not None
        derivation = await derive(
            session,
            tenant=tenant,
            investment=project.total_investment,
            funding_type=project.funding_type,
            at=utcnow(),
        )
        for key in ("tier", "on_platform", "steward_required", "named_responsibility"):
            if getattr(project, key) != derivation[key]:
                changes[key] = [getattr(project, key), derivation[key]]
        _apply_dispatch(project, derivation)
    project.updated_at = utcnow()
    project.row_version += 1
    await record_change(
        session,
        actor=principal.subject,
        tenant=project.tenant_code,
        action="update",
        entity="project",
        entity_id=str(project.id),
        changes=changes,
        event=ProjectUpdated(project_id=str(project.id), code=project.code, changes=changes),
        source=SOURCE,
        subject=str(project.id),
    )
    return project


def to_out(p: Project) -> ProjectOut:
    d = p.derivation or {}
    return ProjectOut(
        id=p.id,
        code=p.code,
        national_code=p.national_code,
        tenant=p.tenant_code,
        name=p.name,
        owner_unit_id=p.owner_unit_id,
        total_investment=p.total_investment,
        annual_plan_investment=p.annual_plan_investment,
        funding_type=FundingType(p.funding_type),
        industry=p.industry,
        key_level=KeyLevel(p.key_level),
        major=p.major,
        stage=Stage(p.stage),
        stage_zh=Stage(p.stage).name_zh,
        dispatch=Dispatch(
            tier=p.tier,
            on_platform=p.on_platform,
            steward_required=p.steward_required,
            named_responsibility=p.named_responsibility,
            reasons=list(d.get("reasons", [])),
            rules_versions=list(d.get("rules_versions", [])),
            derived_at=datetime.fromisoformat(d["derived_at"]) if d.get("derived_at") else p.created_at,
        ),
        location=Location(lat=p.lat, lon=p.lon, address=p.address)
        if p.lat is not None and p.lon is not None
        else None,
        planned_start=p.planned_start,
        planned_completion=p.planned_completion,
        created_by=p.created_by,
        created_at=p.created_at,
        updated_at=p.updated_at,
        row_version=p.row_version,
    )
