"""Composition of the issues service: REST routers, gRPC servicer, the rules.updated consumer, the
due-timer sweeper (with the service clock) and the metrics gauges, in one runtime."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.issues import (
    models,  # noqa: F401  (registers every table)
    servicer,
)
from steward.issues.clock import Clock
from steward.issues.context import IssuesContext
from steward.issues.matters.timers import MatterTimers
from steward.issues.matters.views import router as matters_router
from steward.issues.metrics import GaugeRefresher
from steward.issues.procedures import submissions
from steward.issues.procedures.views import router as procedures_router
from steward.issues.settings import IssuesSettings
from steward.issues.subscribers import RULES_CONSUMER, RULES_SUBJECT, rules_updated_handler
from steward.issues.supervision import service as supervision
from steward.issues.supervision.views import router as supervision_router
from steward.kit.http import create_app as create_http_app
from steward.kit.registry_client import RegistryClient
from steward.kit.runtime import ServiceRuntime
from steward.kit.timers import DueTimer, Rearm, TimerHandler, TimerWorker

VERSION = "0.1.0"
DESCRIPTION = """Tracked matters — obstacles (受阻问题), approval procedures (审批代办), meeting decisions
(会议督办事项) and efficiency complaints (行政效能投诉) — numbered, with working-day deadlines fixed at
filing, reminders (催办), supervision orders (督办单), escalation one tier up along the tenant tree,
one-time notices (一次性告知) and handover (移交). Authenticate with `Authorization: Bearer <jwt>`.
Errors are `{"error": {"code", "message", "details", "request_id"}}`."""

ROUTERS = (matters_router, procedures_router, supervision_router)


class IssuesRuntime(ServiceRuntime):
    """The kit runtime plus the issues sweeper, which runs on the service clock (tests move it)."""

    def __init__(self, settings: IssuesSettings, clock: Callable[[], datetime]) -> None:
        super().__init__(settings)
        self.ctx = IssuesContext(
            settings=settings,
            db=self.db,
            registry=RegistryClient(settings, rules_ttl_seconds=60.0),
            clock=clock,
        )
        self.sweeper = TimerWorker(
            self.db,
            timer_handlers(self.ctx),
            batch_size=settings.timer_batch_size,
            poll_seconds=settings.timer_poll_seconds,
            service=settings.service_name,
            clock=clock,
        )
        self.gauges = GaugeRefresher(self.db, settings.gauges_refresh_seconds)
        self._own: list[asyncio.Task[Any]] = []

    async def start(self) -> None:
        await super().start()
        if self.settings.timers_enabled:
            self._own.append(asyncio.create_task(self.sweeper.run(), name="issues-timers"))
        self._own.append(asyncio.create_task(self.gauges.run(), name="issues-gauges"))

    async def stop(self) -> None:
        await self.sweeper.stop()
        self.gauges.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*self._own, return_exceptions=True), self.settings.shutdown_grace_seconds
            )
        for task in self._own:
            task.cancel()
        self._own.clear()
        await super().stop()
        await self.ctx.registry.close()


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
) -> tuple[FastAPI, IssuesRuntime]:
    settings = settings or IssuesSettings()
    runtime = IssuesRuntime(settings, clock or Clock())
    servicer.register(runtime, runtime.ctx)
    runtime.add_subscription(
        RULES_SUBJECT, consumer=RULES_CONSUMER, handler=rules_updated_handler(runtime.ctx), per_replica=True
    )
    app = create_http_app(
        service=settings.service_name,
        title="Steward issues",
        version=VERSION,
        description=DESCRIPTION,
        routers=ROUTERS,
        lifespan=runtime.lifespan,
        readiness=runtime.readiness(),
    )
    app.state.ctx = runtime.ctx
    return app, runtime


def openapi_app() -> FastAPI:
    """The app without a runtime, for exporting the OpenAPI document."""
    return create_http_app(
        service="issues", title="Steward issues", version=VERSION, description=DESCRIPTION, routers=ROUTERS
    )
