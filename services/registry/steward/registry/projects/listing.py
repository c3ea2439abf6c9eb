"""Project lists: the filters of ``GET /v1/projects`` (also used by the map and the gaps report) on
the caller's subtree, the text search on its bigram index, and newest-first keyset pages."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.auth import Principal
from steward.kit.paging import keyset_page, scoped
from steward.registry.projects.models import Project
from steward.registry.projects.national_code import looks_like
from steward.registry.projects.schemas import (
    ProjectFilter,
)
from steward.registry.tenants.models import Tenant
from steward.registry.tenants.service import get_visible_tenant


def filtered(stmt: Any, base: Tenant, f: ProjectFilter, principal: Principal) -> Any:
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
    base = await get_visible_tenant(session, principal=principal, code=f.tenant or principal.tenant)
    stmt = filtered(select(Project), base, f, principal)
    return await keyset_page(
        session, stmt, order=(Project.created_at, Project.id), cursor=cursor, limit=limit
    )
