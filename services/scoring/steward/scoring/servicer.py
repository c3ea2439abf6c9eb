"""The scoring gRPC service: authenticates the caller and delegates to the domain handlers."""

from __future__ import annotations

import grpc

from steward.api.scoring.v1 import scoring_pb2 as pb
from steward.api.scoring.v1 import scoring_pb2_grpc as pb_grpc
from steward.kit.auth import TokenVerifier
from steward.kit.grpc import aprincipal_of, grpc_errors
from steward.kit.runtime import ServiceRuntime
from steward.scoring.context import ScoringContext
from steward.scoring.ledger import grpc as ledger
from steward.scoring.lights import grpc as lights
from steward.scoring.rankings import grpc as rankings


class ScoringServicer(pb_grpc.ScoringServiceServicer):
    def __init__(self, ctx: ScoringContext, verifier: TokenVerifier) -> None:
        self.ctx = ctx
        self.verifier = verifier

    @grpc_errors
    async def GetScore(self, request: pb.GetScoreRequest, context: grpc.aio.ServicerContext) -> pb.Score:
        return await ledger.get_score(self.ctx, await aprincipal_of(context, self.verifier), request)

    @grpc_errors
    async def GetRanking(
        self, request: pb.GetRankingRequest, context: grpc.aio.ServicerContext
    ) -> pb.Ranking:
        return await rankings.get_ranking(self.ctx, await aprincipal_of(context, self.verifier), request)

    @grpc_errors
    async def GetLight(self, request: pb.GetLightRequest, context: grpc.aio.ServicerContext) -> pb.Light:
        return await lights.get_light_pb(self.ctx, await aprincipal_of(context, self.verifier), request)


def register(runtime: ServiceRuntime, ctx: ScoringContext) -> None:
    servicer = ScoringServicer(ctx, runtime.verifier)
    runtime.add_grpc(
        lambda server: pb_grpc.add_ScoringServiceServicer_to_server(servicer, server),
        pb.DESCRIPTOR.services_by_name["ScoringService"].full_name,
    )
