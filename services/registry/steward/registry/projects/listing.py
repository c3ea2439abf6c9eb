"""Project lists: the filters of ``GET /v1/projects`` (also used by the map and the gaps report) on
the caller's subtree, the text search on its bigram index, and newest-first keyset pages.

``list_projects`` hands out table rows (gRPC); ``list_page`` is the REST page: it reads only the
columns a ``ProjectOut`` shows, as plain rows (no entities, no identity map), and validates the
whole page in one pydantic call from dicts that hold what ``service.to_out`` would pass."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.auth import Principal
from steward.kit.paging import keyset_page, scoped
from steward.registry.projects.models import Project
from steward.registry.projects.national_code import looks_like
from steward.registry.projects.schemas import ProjectFilter, ProjectList
from steward.registry.projects.stages import NAMES_ZH
from steward.registry.tenants.models import Tenant
from steward.registry.tenants.service import TenantRef, visible_tenant_ref


def filtered(stmt: Any, base: Tenant | TenantRef, f: ProjectFilter, principal: Principal) -> Any:
    stmt = scoped(stmt, Project.tenant_path, base.path)
    if principal.is_enterprise:
        stmt = stmt.where(Project.owner_unit_id == (uuid.UUID(principal.unit) if principal.unit else None))
    if f.stages:
        stmt = stmt.where(col(Project.stage).in_([s.value for s in f.stages]))
    if f.tiers:
        stmt = stmt.where(col(Project.tier).in_(f.tiers))
    if f.key_levels:
        stmt = stmt.where(col(Project.key_level).in_([k.value for k in f.key_levels]))
    if f.funding_type:
        stmt = stmt.where(Project.funding_type == f.funding_type.value)
    if f.steward_required is not None:
        stmt = stmt.where(Project.steward_required == f.steward_required)
    if f.national_code:
        stmt = stmt.where(Project.national_code == (looks_like(f.national_code) or f.national_code))
    if f.q:
        national = looks_like(f.q)
        stmt = stmt.where(
            _has_bigrams_of(f.q, national),
            sa.or_(
                col(Project.name).contains(f.q, autoescape=True),
                col(Project.code).contains(f.q, autoescape=True),
                col(Project.national_code).contains(national or f.q.upper(), autoescape=True),
            ),
        )
    return stmt


# models.SEARCH_BIGRAMS with qualified columns: the planner matches it to the index expression
_SEARCH_DOC = (
    "steward_bigrams(lower(projects.name || ' ' || projects.code || ' '"
    " || coalesce(projects.national_code, '')))"
)


def _has_bigrams_of(q: str, national: str | None) -> Any:
    """Index condition of the text search (``ix_projects_search``): the searched fields hold every
    character pair of ``q`` (or of the normalised national code). Necessary for the LIKEs, which
    recheck; with it a rare term is a GIN lookup instead of a walk through the whole subtree."""
    doc: sa.ColumnClause[Any] = sa.literal_column(_SEARCH_DOC)
    upper = q.upper()  # the national-code LIKE's term: lower(upper(q)) is lower(q) for ASCII only
    terms = dict.fromkeys([q, upper if not q.isascii() else q, national or q])
    return sa.or_(*(doc.op("@>")(sa.func.steward_bigrams(sa.func.lower(sa.cast(t, sa.Text)))) for t in terms))


async def list_projects(
    session: AsyncSession, *, principal: Principal, f: ProjectFilter, limit: int, cursor: str | None
) -> tuple[list[Project], str | None]:
    """Newest first; keyset pagination on (created_at, id)."""
    base = await visible_tenant_ref(session, principal=principal, code=f.tenant or principal.tenant)
    stmt = filtered(select(Project), base, f, principal)
    return await keyset_page(
        session, stmt, order=(Project.created_at, Project.id), cursor=cursor, limit=limit
    )


# What a ProjectOut shows, under its names (``tenant``) or as read by ``row_to_item``.
_PAGE_COLUMNS: tuple[Any, ...] = (
    Project.id,
    Project.code,
    Project.national_code,
    col(Project.tenant_code).label("tenant"),
    Project.name,
    Project.owner_unit_id,
    Project.total_investment,
    Project.annual_plan_investment,
    Project.funding_type,
    Project.industry,
    Project.key_level,
    Project.major,
    Project.stage,
    Project.tier,
    Project.on_platform,
    Project.steward_required,
    Project.named_responsibility,
    Project.derivation,
    Project.lat,
    Project.lon,
    Project.address,
    Project.planned_start,
    Project.planned_completion,
    Project.created_by,
    Project.created_at,
    Project.updated_at,
    Project.row_version,
)
_STAGE_ZH = {stage.value: name for stage, name in NAMES_ZH.items()}


def row_to_item(row: Any) -> dict[str, Any]:
    """A ``ProjectOut``'s input from a ``_PAGE_COLUMNS`` row: the values ``service.to_out`` passes
    (keys the model does not have are ignored by its validation)."""
    item: dict[str, Any] = row._asdict()
    d = item["derivation"] or {}
    item["stage_zh"] = _STAGE_ZH.get(item["stage"])  # an unknown stage fails validation, as in to_out
    item["dispatch"] = {
        "tier": item["tier"],
        "on_platform": item["on_platform"],
        "steward_required": item["steward_required"],
        "named_responsibility": item["named_responsibility"],
        "reasons": list(d.get("reasons", [])),
        "rules_versions": list(d.get("rules_versions", [])),
        "derived_at": datetime.fromisoformat(d["derived_at"]) if d.get("derived_at") else item["created_at"],
    }
    lat, lon = item["lat"], item["lon"]
    item["location"] = (
        {"lat": lat, "lon": lon, "address": item["address"]} if lat is not None and lon is not None else None
    )
    return item


async def list_page(
    session: AsyncSession, *, principal: Principal, f: ProjectFilter, limit: int, cursor: str | None
) -> ProjectList:
    """``list_projects``' page as the REST answer: same rows, same order, same cursor."""
    base = await visible_tenant_ref(session, principal=principal, code=f.tenant or principal.tenant)
    stmt = filtered(sa.select(*_PAGE_COLUMNS), base, f, principal)
    rows, nxt = await keyset_page(
        session, stmt, order=(Project.created_at, Project.id), cursor=cursor, limit=limit
    )
    return ProjectList.model_validate({"items": [row_to_item(r) for r in rows], "next_cursor": nxt})
