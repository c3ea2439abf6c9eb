"""The meetings gRPC service: authenticates the caller and delegates to the domain handlers."""

from __future__ import annotations

import grpc

from steward.api.meetings.v1 import meetings_pb2 as pb
from steward.api.meetings.v1 import meetings_pb2_grpc as pb_grpc
from steward.kit.auth import TokenVerifier
from steward.kit.grpc import aprincipal_of, grpc_errors
from steward.kit.runtime import ServiceRuntime
from steward.meetings.context import MeetingsContext
from steward.meetings.decisions import grpc as decisions
from steward.meetings.meetings import grpc as meetings


class MeetingsServicer(pb_grpc.MeetingsServiceServicer):
    def __init__(self, ctx: MeetingsContext, verifier: TokenVerifier) -> None:
        self.ctx = ctx
        self.verifier = verifier

    @grpc_errors
    async def GetMeeting(
        self, request: pb.GetMeetingRequest, context: grpc.aio.ServicerContext
    ) -> pb.Meeting:
        return await meetings.get_meeting(self.ctx, await aprincipal_of(context, self.verifier), request)

    @grpc_errors
    async def ListMeetings(
        self, request: pb.ListMeetingsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMeetingsResponse:
        return await meetings.list_meetings(self.ctx, await aprincipal_of(context, self.verifier), request)

    @grpc_errors
    async def GetAttendance(
        self, request: pb.GetAttendanceRequest, context: grpc.aio.ServicerContext
    ) -> pb.AttendanceResponse:
        return await meetings.get_attendance(self.ctx, await aprincipal_of(context, self.verifier), request)

    @grpc_errors
    async def ListDecisions(
        self, request: pb.ListDecisionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListDecisionsResponse:
        return await decisions.list_decisions(self.ctx, await aprincipal_of(context, self.verifier), request)


def register(runtime: ServiceRuntime, ctx: MeetingsContext) -> None:
    servicer = MeetingsServicer(ctx, runtime.verifier)
    runtime.add_grpc(
        lambda server: pb_grpc.add_MeetingsServiceServicer_to_server(servicer, server),
        pb.DESCRIPTOR.services_by_name["MeetingsService"].full_name,
    )
