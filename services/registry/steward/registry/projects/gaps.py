"""Data quality: projects at or past 前期 without the national 24-character project code."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.auth import Principal
from steward.kit.paging import keyset_page
from steward.registry.projects.listing import filtered
from steward.registry.projects.models import Project
from steward.registry.projects.schemas import ProjectFilter
from steward.registry.projects.stages import Stage
from steward.registry.tenants.service import visible_tenant_ref

# a project that has entered the preparing stage needs its national code (approvals are filed under it)
CODED_STAGES = (Stage.PREPARING, Stage.NEW_START, Stage.CONTINUING, Stage.COMPLETED, Stage.OPERATING)


async def national_code_gaps(
    session: AsyncSession, *, principal: Principal, tenant: str | None, limit: int, cursor: str | None
) -> tuple[list[Project], str | None]:
    """Data-quality gap: projects at or past 前期 (suspended ones too) without a national code."""
    base = await visible_tenant_ref(session, principal=principal, code=tenant or principal.tenant)
    coded = [s.value for s in CODED_STAGES]
    stmt = filtered(select(Project), base, ProjectFilter(), principal).where(
        col(Project.national_code).is_(None),
        sa.or_(
            col(Project.stage).in_(coded),
            sa.and_(
                col(Project.stage) == Stage.SUSPENDED.value, col(Project.stage_before_suspension).in_(coded)
            ),
        ),
    )
    return await keyset_page(
        session, stmt, order=(Project.created_at, Project.id), cursor=cursor, limit=limit
    )
