"""The registry's gRPC service: authenticates the caller and delegates to each domain's handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.api.registry.v1 import registry_pb2 as pb
from steward.api.registry.v1 import registry_pb2_grpc as pb_grpc
from steward.kit.auth import Principal
from steward.kit.db import Database
from steward.kit.grpc import grpc_errors, principal_of
from steward.kit.runtime import ServiceRuntime
from steward.registry.projects import grpc as projects
from steward.registry.reports import grpc as reports
from steward.registry.rosters import grpc as rosters
from steward.registry.rules import grpc as rules
from steward.registry.tenants import grpc as tenants
from steward.registry.tenants.gate import ensure_known_tenant, http_gate

R = TypeVar("R")


class RegistryServicer(pb_grpc.RegistryServiceServicer):
    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime
        self._known_tenant = http_gate(runtime.db)

    async def _call(
        self,
        context: grpc.aio.ServicerContext,
        handler: Callable[[AsyncSession, Principal, Any], Awaitable[R]],
        request: Any,
    ) -> R:
        principal = principal_of(context, self.runtime.verifier)
        async with self.runtime.db.read() as session:
            await ensure_known_tenant(session, principal)  # unknown token tenant: PERMISSION_DENIED
            return await handler(session, principal, request)

    async def _direct(
        self,
        context: grpc.aio.ServicerContext,
        handler: Callable[[Database, Principal, Any], Awaitable[R]],
        request: Any,
    ) -> R:
        """For a handler that reads by key straight through the driver (``steward.kit.loads``) and
        opens a session only for what else it reads: no session around it."""
        principal = principal_of(context, self.runtime.verifier)
        await self._known_tenant(principal)  # unknown token tenant: PERMISSION_DENIED
        return await handler(self.runtime.db, principal, request)

    @grpc_errors
    async def GetProject(
        self, request: pb.GetProjectRequest, context: grpc.aio.ServicerContext
    ) -> pb.Project:
        return await self._direct(context, projects.get_project, request)

    @grpc_errors
    async def ListProjects(
        self, request: pb.ListProjectsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListProjectsResponse:
        return await self._call(context, projects.list_projects, request)

    @grpc_errors
    async def GetRoster(self, request: pb.GetRosterRequest, context: grpc.aio.ServicerContext) -> pb.Roster:
        return await self._direct(context, rosters.get_roster, request)

    @grpc_errors
    async def GetEffectiveRules(
        self, request: pb.GetEffectiveRulesRequest, context: grpc.aio.ServicerContext
    ) -> pb.EffectiveRules:
        return await self._call(context, rules.get_effective_rules, request)

    @grpc_errors
    async def GetTenantAncestry(
        self, request: pb.GetTenantAncestryRequest, context: grpc.aio.ServicerContext
    ) -> pb.TenantAncestry:
        return await self._call(context, tenants.get_tenant_ancestry, request)

    @grpc_errors
    async def ListReports(
        self, request: pb.ListReportsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListReportsResponse:
        return await self._call(context, reports.list_reports, request)

    @grpc_errors
    async def GetReportStatus(
        self, request: pb.GetReportStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReportStatusResponse:
        return await self._call(context, reports.get_report_status, request)


def register(runtime: ServiceRuntime) -> None:
    servicer = RegistryServicer(runtime)
    runtime.add_grpc(
        lambda server: pb_grpc.add_RegistryServiceServicer_to_server(servicer, server),
        pb.DESCRIPTOR.services_by_name["RegistryService"].full_name,
    )
