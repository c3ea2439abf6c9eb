"""gRPC handlers of the projects domain (GetProject, ListProjects)."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from steward.api.registry.v1 import registry_pb2 as pb
from steward.kit.auth import Principal
from steward.kit.db import Database
from steward.kit.errors import ValidationFailed
from steward.kit.grpc import timestamp
from steward.registry.projects import listing, service
from steward.registry.projects.models import Project
from steward.registry.projects.schemas import KeyLevel, ProjectFilter
from steward.registry.projects.stages import Stage


def to_pb(p: Project, owner_name: str = "") -> pb.Project:
    return pb.Project(
        id=str(p.id),
        code=p.code,
        tenant=p.tenant_code,
        name=p.name,
        owner_unit_id=str(p.owner_unit_id) if p.owner_unit_id else "",
        owner_unit_name=owner_name,
        total_investment=f"{p.total_investment:.2f}",
        funding_type=p.funding_type,
        industry=p.industry,
        key_level=p.key_level,
        stage=p.stage,
        tier=p.tier,
        on_platform=p.on_platform,
        steward_required=p.steward_required,
        named_responsibility=p.named_responsibility,
        location=pb.Location(lat=p.lat or 0.0, lon=p.lon or 0.0, address=p.address)
        if p.lat is not None
        else None,
        planned_start=p.planned_start.isoformat() if p.planned_start else "",
        planned_completion=p.planned_completion.isoformat() if p.planned_completion else "",
        annual_plan_investment=f"{p.annual_plan_investment:.2f}"
        if p.annual_plan_investment is not None
        else "",
        created_at=timestamp(p.created_at),
        updated_at=timestamp(p.updated_at),
        national_code=p.national_code or "",
        created_by=p.created_by,
    )


async def get_project(db: Database, principal: Principal, request: pb.GetProjectRequest) -> pb.Project:
    if not request.id_or_code:
        raise ValidationFailed("id_or_code is required")
    return to_pb(await service.read_project(db, principal=principal, id_or_code=request.id_or_code))


async def list_projects(
    session: AsyncSession, principal: Principal, request: pb.ListProjectsRequest
) -> pb.ListProjectsResponse:
    try:
        f = ProjectFilter(
            tenant=request.tenant or None,
            stages=[Stage(s) for s in request.stages],
            tiers=list(request.tiers),
            key_levels=[KeyLevel(k) for k in request.key_levels],
            q=request.query or None,
        )
    except ValueError as exc:
        raise ValidationFailed(f"invalid filter: {exc}") from exc
    size = request.page_size or 50
    if not 1 <= size <= 200:
        raise ValidationFailed("page_size must be between 1 and 200")
    rows, nxt = await listing.list_projects(
        session, principal=principal, f=f, limit=size, cursor=request.page_token or None
    )
    return pb.ListProjectsResponse(projects=[to_pb(p) for p in rows], next_page_token=nxt or "")


__all__ = ["get_project", "list_projects", "to_pb"]
