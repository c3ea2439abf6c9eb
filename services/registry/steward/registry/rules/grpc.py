"""gRPC handler of the rules domain (GetEffectiveRules)."""

from __future__ import annotations

import json
from datetime import UTC

from sqlmodel.ext.asyncio.session import AsyncSession

from steward.api.registry.v1 import registry_pb2 as pb
from steward.kit.auth import Principal
from steward.kit.grpc import timestamp
from steward.registry.rules import service
from steward.registry.tenants.service import get_visible_tenant


async def get_effective_rules(
    session: AsyncSession, principal: Principal, request: pb.GetEffectiveRulesRequest
) -> pb.EffectiveRules:
    tenant = request.tenant or principal.tenant
    await get_visible_tenant(session, principal=principal, code=tenant)
    at = request.at.ToDatetime(tzinfo=UTC) if request.HasField("at") else None
    eff = await service.effective(session, tenant=tenant, at=at)
    return pb.EffectiveRules(
        tenant=tenant,
        document_json=json.dumps(eff.document.model_dump(mode="json"), ensure_ascii=False),
        versions=[
            pb.RulesVersionRef(
                tenant=v.tenant_code, version=v.version, effective_from=timestamp(v.effective_from)
            )
            for v in eff.versions
        ],
        at=timestamp(eff.at),
    )
