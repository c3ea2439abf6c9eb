"""The 一张图 map: projects as a GeoJSON FeatureCollection, filtered like the project list."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.auth import Principal
from steward.kit.paging import keyset_page
from steward.registry.projects.listing import filtered
from steward.registry.projects.models import Project
from steward.registry.projects.schemas import ProjectFilter
from steward.registry.projects.stages import Stage
from steward.registry.tenants.service import get_visible_tenant


def feature(p: Project) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": str(p.id),
        "geometry": {"type": "Point", "coordinates": [p.lon, p.lat]},
        "properties": {
            "code": p.code,
            "name": p.name,
            "tenant": p.tenant_code,
            "stage": p.stage,
            "stage_zh": Stage(p.stage).name_zh,
            "tier": p.tier,
            "key_level": p.key_level,
            "funding_type": p.funding_type,
            "major": p.major,
            "total_investment": f"{p.total_investment:.2f}",
            "address": p.address,
        },
    }


async def collection(
    session: AsyncSession, *, principal: Principal, f: ProjectFilter, limit: int
) -> dict[str, Any]:
    base = await get_visible_tenant(session, principal=principal, code=f.tenant or principal.tenant)
    stmt = filtered(select(Project), base, f, principal)
    located = stmt.where(col(Project.lat).is_not(None), col(Project.lon).is_not(None))
    rows, more = await keyset_page(
        session, located, order=(Project.code,), cursor=None, limit=limit, descending=False
    )
    unlocated = filtered(select(Project.id), base, f, principal).where(col(Project.lat).is_(None))
    without = len(list((await session.exec(unlocated)).all()))
    truncated = more is not None
    lons = [p.lon for p in rows if p.lon is not None]
    lats = [p.lat for p in rows if p.lat is not None]
    out: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": [feature(p) for p in rows],
        "meta": {
            "tenant": base.code,
            "count": len(rows),
            "without_location": without,
            "truncated": truncated,
        },
    }
    if rows:
        out["bbox"] = [min(lons), min(lats), max(lons), max(lats)]
    return out
