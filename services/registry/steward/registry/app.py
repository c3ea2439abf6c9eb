"""Composition of the registry service: REST routers, gRPC servicer and timers in one kit runtime."""

from __future__ import annotations

from fastapi import FastAPI

from steward.kit import deadletters, security
from steward.kit.clients.issues import IssuesClient
from steward.kit.http import create_app as create_http_app
from steward.kit.runtime import ServiceRuntime
from steward.registry import (
    models,  # noqa: F401  (registers every table)
    servicer,
)
from steward.registry.agentreports import timers as agent_timers
from steward.registry.agentreports.views import router as agentreports_router
from steward.registry.circulars.views import router as circulars_router
from steward.registry.context import RegistryContext
from steward.registry.devclock.views import router as devclock_router
from steward.registry.inbound.views import router as inbound_router
from steward.registry.map.views import router as map_router
from steward.registry.milestones import service as milestones_service
from steward.registry.milestones.views import router as milestones_router
from steward.registry.nodeplans.views import router as nodeplans_router
from steward.registry.projects import importer
from steward.registry.projects.views import router as projects_router
from steward.registry.reports import timers as report_timers
from steward.registry.reports.views import router as reports_router
from steward.registry.returnvisits.views import router as returnvisits_router
from steward.registry.rosters.views import router as rosters_router
from steward.registry.rules import service as rules_service
from steward.registry.rules.views import router as rules_router
from steward.registry.servicelog import compliance as servicelog_compliance
from steward.registry.servicelog.views import router as servicelog_router
from steward.registry.settings import RegistrySettings
from steward.registry.tenants.gate import http_gate
from steward.registry.tenants.views import router as tenants_router
from steward.registry.units.views import router as units_router

VERSION = "0.1.0"
DESCRIPTION = """Tenants, rules, units and people, projects (一项一码, tiered dispatch, lifecycle) and
responsibility rosters. Authenticate with `Authorization: Bearer <jwt>` (`steward token` mints one
for development). Errors are `{"error": {"code", "message", "details", "request_id"}}`."""

ROUTERS = (
    tenants_router,
    rules_router,
    units_router,
    projects_router,
    rosters_router,
    milestones_router,
    nodeplans_router,
    reports_router,
    circulars_router,
    agentreports_router,
    servicelog_router,
    returnvisits_router,
    map_router,
    inbound_router,
    devclock_router,
    deadletters.router,  # platform operations: dead letters of every consumer
)


def build(settings: RegistrySettings | None = None) -> tuple[FastAPI, ServiceRuntime]:
    settings = settings or RegistrySettings()
    runtime = ServiceRuntime(settings)
    issues = IssuesClient(settings, settings.issues_grpc_target) if settings.issues_grpc_target else None
    runtime.ctx = RegistryContext(settings=settings, db=runtime.db, clock=runtime.clock, issues=issues)
    if issues is not None:
        runtime.on_stop(issues.close)
    servicer.register(runtime)
    runtime.add_timer(rules_service.EFFECTIVE_TIMER, rules_service.on_effective)
    runtime.add_timer(report_timers.PLAN_TIMER, report_timers.on_plan)
    runtime.add_timer(report_timers.OVERDUE_TIMER, report_timers.on_overdue)
    runtime.add_timer(report_timers.DUE_SOON_TIMER, report_timers.on_due_soon)
    runtime.add_timer(agent_timers.OVERDUE_TIMER, agent_timers.on_overdue)
    runtime.add_timer(milestones_service.DELAY_TIMER, milestones_service.on_delay_timer)
    runtime.add_timer(servicelog_compliance.COMPLIANCE_TIMER, servicelog_compliance.on_timer)
    if settings.timers_enabled:

        async def arm_planner() -> None:  # report/visit timers are planned hourly
            await report_timers.arm_planner(runtime.db)

        runtime.on_start(arm_planner)

    app = create_http_app(
        service=settings.service_name,
        title="Steward registry",
        version=VERSION,
        description=DESCRIPTION,
        routers=ROUTERS,
        lifespan=runtime.lifespan,
        readiness=runtime.readiness(),
    )
    app.state.tenant_gate = http_gate(runtime.db)  # tokens for an unknown tenant: 403
    # a district's spreadsheet as CSV is larger than the default request limit (the route checks its own)
    security.allow_larger_body(app, "/v1/projects/import", importer.MAX_BYTES + 256 * 1024)
    return app, runtime


def openapi_app() -> FastAPI:
    """The app without a runtime, for exporting the OpenAPI document."""
    return create_http_app(
        service="registry",
        title="Steward registry",
        version=VERSION,
        description=DESCRIPTION,
        routers=ROUTERS,
    )
