"""Composition of the meetings service: REST routers, the gRPC servicer, the consumers (rules,
escalated matters), the timers (series generation, notices, agenda reminders, decision filing,
minutes due) on the runtime's clock, and the issues and registry clients, in one kit runtime."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI

from steward.kit.clients.issues import IssuesClient
from steward.kit.clients.registry import RegistryClient, follow_rules
from steward.kit.clock import Clock
from steward.kit.http import create_app as create_http_app
from steward.kit.limits import registry_tenant_gate
from steward.kit.runtime import ServiceRuntime
from steward.kit.timers import TimerHandler
from steward.meetings import (
    models,  # noqa: F401  (registers every table)
    servicer,
    subscribers,
)
from steward.meetings.agenda.views import router as agenda_router
from steward.meetings.context import MeetingsContext
from steward.meetings.decisions import timers as decision_timers
from steward.meetings.decisions.views import router as decisions_router
from steward.meetings.meetings import timers as meeting_timers
from steward.meetings.meetings.views import router as meetings_router
from steward.meetings.minutes import timers as minutes_timers
from steward.meetings.minutes.views import router as minutes_router
from steward.meetings.series import service as series_service
from steward.meetings.series import timers as series_timers
from steward.meetings.series.views import router as series_router
from steward.meetings.settings import MeetingsSettings

VERSION = "0.1.0"
DESCRIPTION = """The weekly coordination meeting (周例会 / 联席会议): series from the tenant's rules with
meetings generated ahead (public holidays skipped or moved, and said so), ad-hoc meetings (临时协调会议),
agenda intake (议题申报) with the required sign-offs and the Tuesday deadline, compilation in the fixed
order with the supervision report on last meeting's decisions, attendance, statements, decisions filed
as tracked matters in the issues service (exactly once), minutes (会议纪要) signed by the chair, issued as
DOCX and printable HTML and acknowledged (签收). Authenticate with `Authorization: Bearer <jwt>`.
Errors are `{"error": {"code", "message", "details", "request_id"}}`."""

ROUTERS = (series_router, meetings_router, agenda_router, decisions_router, minutes_router)


def timer_handlers(ctx: MeetingsContext) -> dict[str, TimerHandler]:
    handlers: dict[str, TimerHandler] = {series_service.GENERATE_TIMER: series_timers.handler(ctx)}
    handlers.update(meeting_timers.handlers(ctx))
    handlers.update(decision_timers.handlers(ctx))
    handlers.update(minutes_timers.handlers(ctx))
    return handlers


def build(
    settings: MeetingsSettings | None = None, *, clock: Callable[[], datetime] | None = None
) -> tuple[FastAPI, ServiceRuntime]:
    settings = settings or MeetingsSettings()
    runtime = ServiceRuntime(settings, clock=clock or Clock())
    registry = RegistryClient(settings, rules_ttl_seconds=60.0)
    issues = IssuesClient(settings, settings.issues_grpc_target)
    ctx = runtime.ctx = MeetingsContext(
        settings=settings, db=runtime.db, registry=registry, issues=issues, clock=runtime.clock
    )
    for kind, handler in timer_handlers(ctx).items():
        runtime.add_timer(kind, handler)
    runtime.on_stop(registry.close)
    runtime.on_stop(issues.close)
    servicer.register(runtime, ctx)
    follow_rules(runtime, registry, consumer=subscribers.RULES_CACHE_CONSUMER)
    runtime.add_subscription(
        subscribers.RULES_SUBJECT,
        consumer=subscribers.RULES_SERIES_CONSUMER,
        handler=subscribers.rules_series_handler(ctx),
    )
    runtime.add_subscription(
        subscribers.ESCALATED_SUBJECT,
        consumer=subscribers.ESCALATED_CONSUMER,
        handler=subscribers.escalated_handler(ctx),
    )
    app = create_http_app(
        service=settings.service_name,
        title="Steward meetings",
        version=VERSION,
        description=DESCRIPTION,
        routers=ROUTERS,
        lifespan=runtime.lifespan,
        readiness=runtime.readiness(),
    )
    # tokens of an unknown tenant: 403 on REST, PERMISSION_DENIED on gRPC
    app.state.tenant_gate = runtime.tenant_gate = registry_tenant_gate(registry)
    return app, runtime


def openapi_app() -> FastAPI:
    """The app without a runtime, for exporting the OpenAPI document."""
    return create_http_app(
        service="meetings",
        title="Steward meetings",
        version=VERSION,
        description=DESCRIPTION,
        routers=ROUTERS,
    )
