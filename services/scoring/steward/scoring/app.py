"""Composition of the scoring service: REST routers, gRPC servicer and the durable consumer of every
service's events, in one kit runtime (composed, never subclassed)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI

from steward.kit.clients.registry import RegistryClient, follow_rules
from steward.kit.clock import Clock
from steward.kit.http import create_app as create_http_app
from steward.kit.limits import registry_tenant_gate
from steward.kit.runtime import ServiceRuntime
from steward.scoring import (
    models,  # noqa: F401  (registers every table)
    servicer,
)
from steward.scoring.context import ScoringContext
from steward.scoring.ledger.views import router as ledger_router
from steward.scoring.lights.views import router as lights_router
from steward.scoring.periods.views import router as periods_router
from steward.scoring.rankings.views import router as rankings_router
from steward.scoring.rules.views import router as rules_router
from steward.scoring.settings import ScoringSettings
from steward.scoring.subscribers import EVENTS_SUBJECT, RULES_CONSUMER, EventConsumer
from steward.scoring.surveys import links as survey_links
from steward.scoring.surveys.timers import RECTIFICATION_DUE, on_rectification_due
from steward.scoring.surveys.views import router as surveys_router

VERSION = "0.1.0"
DESCRIPTION = """Scorecards (考评) as an auditable ledger: every point is an entry with its rule, reason and
source event; dimensions never below 0 (扣完为止) nor above their maximum; closed periods freeze their
rules and replay identically. Rankings with groups, exemptions and consequences (通报表扬/批评,
诫勉谈话, 报请组织部门处理); satisfaction surveys (满意度测评) with one-time links and rectifications
(整改); project warning lights (红黄绿灯) and the four rates. Authenticate with
`Authorization: Bearer <jwt>`. Errors are `{"error": {"code", "message", "details", "request_id"}}`."""

ROUTERS = (ledger_router, rules_router, periods_router, rankings_router, surveys_router, lights_router)


def build(
    settings: ScoringSettings | None = None, *, clock: Callable[[], datetime] | None = None
) -> tuple[FastAPI, ServiceRuntime]:
    settings = settings or ScoringSettings()
    survey_links.check_configured(settings)  # outside dev: no link secret, no start
    runtime = ServiceRuntime(settings, clock=clock or Clock())
    registry = RegistryClient(settings, rules_ttl_seconds=60.0)
    ctx = runtime.ctx = ScoringContext(
        settings=settings, db=runtime.db, registry=registry, clock=runtime.clock
    )
    runtime.on_stop(registry.close)
    follow_rules(runtime, registry, consumer=RULES_CONSUMER)
    runtime.add_timer(RECTIFICATION_DUE, on_rectification_due)
    servicer.register(runtime, ctx)
    runtime.add_subscription(
        EVENTS_SUBJECT, consumer=settings.events_consumer, handler=EventConsumer(ctx).handle
    )
    app = create_http_app(
        service=settings.service_name,
        title="Steward scoring",
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
        service="scoring", title="Steward scoring", version=VERSION, description=DESCRIPTION, routers=ROUTERS
    )
