"""The issues gRPC service: authenticates the caller and delegates to the matters handlers."""

from __future__ import annotations

import grpc

from steward.api.issues.v1 import issues_pb2 as pb
from steward.api.issues.v1 import issues_pb2_grpc as pb_grpc
from steward.issues.context import IssuesContext
from steward.issues.matters import grpc as matters
from steward.kit.auth import TokenVerifier, bearer_token
from steward.kit.grpc import grpc_errors, principal_of
from steward.kit.runtime import ServiceRuntime


class IssuesServicer(pb_grpc.IssuesServiceServicer):
    def __init__(self, ctx: IssuesContext, verifier: TokenVerifier) -> None:
        self.ctx = ctx
        self.verifier = verifier

    @grpc_errors
    async def CreateMatter(
        self, request: pb.CreateMatterRequest, context: grpc.aio.ServicerContext
    ) -> pb.Matter:
        principal = principal_of(context, self.verifier)
        token = bearer_token(dict(context.invocation_metadata() or ()).get("authorization"))  # type: ignore[arg-type]
        # a service principal reads the project with the issues service's own token
        return await matters.create_matter(
            self.ctx, principal, request, None if principal.tenant == "*" else token
        )

    @grpc_errors
    async def GetMatter(self, request: pb.GetMatterRequest, context: grpc.aio.ServicerContext) -> pb.Matter:
        return await matters.get_matter(self.ctx, principal_of(context, self.verifier), request)

    @grpc_errors
    async def ListMatters(
        self, request: pb.ListMattersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMattersResponse:
        return await matters.list_matters(self.ctx, principal_of(context, self.verifier), request)

    @grpc_errors
    async def MatterStatusReport(
        self, request: pb.MatterStatusReportRequest, context: grpc.aio.ServicerContext
    ) -> pb.MatterStatusReportResponse:
        return await matters.status_report(self.ctx, principal_of(context, self.verifier), request)

    @grpc_errors
    async def MattersOfPerson(
        self, request: pb.MattersOfPersonRequest, context: grpc.aio.ServicerContext
    ) -> pb.MattersOfPersonResponse:
        return await matters.matters_of_person(self.ctx, principal_of(context, self.verifier), request)


def register(runtime: ServiceRuntime, ctx: IssuesContext) -> None:
    servicer = IssuesServicer(ctx, runtime.verifier)
    runtime.add_grpc(
        lambda server: pb_grpc.add_IssuesServiceServicer_to_server(servicer, server),
        pb.DESCRIPTOR.services_by_name["IssuesService"].full_name,
    )
