"""gRPC handler of GetLight."""

from __future__ import annotations

from steward.api.scoring.v1 import scoring_pb2 as pb
from steward.kit.auth import Principal
from steward.kit.errors import ValidationFailed
from steward.kit.inputs import clean
from steward.scoring.context import ScoringContext
from steward.scoring.ledger.grpc import ts
from steward.scoring.lights.views import get_light


async def get_light_pb(ctx: ScoringContext, principal: Principal, request: pb.GetLightRequest) -> pb.Light:
    clean(project_id=request.project_id)
    if not request.project_id or len(request.project_id) > 64:
        raise ValidationFailed("project_id is required", code="invalid_project")
    out = await get_light(ctx, principal, request.project_id)  # type: ignore[arg-type]
    return pb.Light(
        project_id=out.project_id,
        tenant=out.tenant,
        code=out.code,
        light=out.light,
        reasons=out.reasons,
        updated_at=ts(out.updated_at),
    )
