"""gRPC handler of the tenants domain (GetTenantAncestry)."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from steward.api.registry.v1 import registry_pb2 as pb
from steward.kit.auth import Principal
from steward.registry.tenants import service


async def get_tenant_ancestry(
    session: AsyncSession, principal: Principal, request: pb.GetTenantAncestryRequest
) -> pb.TenantAncestry:
    code = request.tenant or principal.tenant
    await service.get_visible_tenant(session, principal=principal, code=code)
    chain = await service.ancestry(session, code=code)
    return pb.TenantAncestry(
        ancestors=[
            pb.Tenant(code=t.code, name=t.name, kind=t.kind, parent=t.parent_code or "") for t in chain
        ]
    )
