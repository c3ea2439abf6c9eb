"""Composition of the issues service: REST routers, gRPC servicer, the rules.updated consumer, the
due timers (on the runtime's clock) and the metrics gauges, in one kit runtime."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.issues import (
    models,  # noqa: F401  (registers every table)
    servicer,
)
from steward.issues.context import IssuesContext
from steward.issues.inbound.views import router as inbound_router
from steward.issues.matters.timers import MatterTimers
from steward.issues.matters.views import router as matters_router
from steward.issues.metrics import GaugeRefresher
from steward.issues.procedures import submissions
from steward.issues.procedures.views import router as procedures_router
from steward.issues.settings import IssuesSettings
from steward.issues.supervision import service as supervision
from steward.issues.supervision.views import router as supervision_router
from steward.kit.clients.registry import RegistryClient, follow_projects, follow_rules
from steward.kit.clock import Clock
from steward.kit.http import create_app as create_http_app
from steward.kit.limits import registry_tenant_gate
from steward.kit.runtime import ServiceRuntime
from steward.kit.timers import DueTimer, Rearm, TimerHandler

VERSION = "0.1.0"
DESCRIPTION = """Tracked matters — obstacles (受阻问题), approval procedures (审批代办), meeting decisions
(会议督办事项) and efficiency complaints (行政效能投诉) — numbered, with working-day deadlines fixed at
filing, reminders (催办), supervision orders (督办单), escalation one tier up along the tenant tree,
one-time notices (一次性告知) and handover (移交). Authenticate with `Authorization: Bearer <jwt>`.
Errors are `{"error": {"code", "message", "details", "request_id"}}`."""

ROUTERS = (matters_router, procedures_router, supervision_router, inbound_router)


def timer_handlers(ctx: IssuesContext) -> dict[str, TimerHandler]:
    matter = MatterTimers(ctx)

    async def notice(session: AsyncSession, timer: DueTimer) -> Rearm | None:
        return await submissions.on_notice_due(session, timer, ctx.clock())

    async def order(session: AsyncSession, timer: DueTimer) -> Rearm | None:
        return await supervision.on_due(session, timer, ctx.clock())

    handlers: dict[str, TimerHandler] = dict(matter.handlers())  # type: ignore[arg-type]
    handlers[submissions.NOTICE_TIMER] = notice
    handlers[supervision.TIMER] = order
    return handlers


def build(
    settings: IssuesSettings | None = None, *, clock: Callable[[], datetime] | None = None
) -> tuple[FastAPI, ServiceRuntime]:
    settings = settings or IssuesSettings()
    runtime = ServiceRuntime(settings, clock=clock or Clock())
    registry = RegistryClient(settings, rules_ttl_seconds=60.0, project_ttl_seconds=30.0)
    ctx = runtime.ctx = IssuesContext(
        settings=settings, db=runtime.db, registry=registry, clock=runtime.clock
    )
    for kind, handler in timer_handlers(ctx).items():
        runtime.add_timer(kind, handler)
    gauges = GaugeRefresher(runtime.db, settings.gauges_refresh_seconds)
    runtime.add_worker("issues-gauges", gauges.run, gauges.stop)
    runtime.on_stop(registry.close)
    servicer.register(runtime, ctx)
    follow_rules(runtime, registry, consumer="issues-rules")
    follow_projects(runtime, registry, consumer="issues-projects")  # drops cached projects
    app = create_http_app(
        service=settings.service_name,
        title="Steward issues",
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
        service="issues", title="Steward issues", version=VERSION, description=DESCRIPTION, routers=ROUTERS
    )
