"""Composition of the notify service: REST routers, the event consumer (every event of the platform),
the per-replica rules cache consumer, the delivery worker, the live inbox hub and the digest timer,
in one kit runtime."""

from __future__ import annotations

from fastapi import FastAPI

from steward.kit import sealing
from steward.kit.clients.registry import RegistryClient, follow_projects, follow_rules
from steward.kit.http import create_app as create_http_app
from steward.kit.limits import registry_tenant_gate
from steward.kit.runtime import ServiceRuntime
from steward.notify import (
    models,  # noqa: F401  (registers every table)
    stream,
)
from steward.notify.channels.dispatch import Channels
from steward.notify.channels.views import router as endpoints_router
from steward.notify.context import NotifyContext
from steward.notify.deliveries.digest import digest_handler
from steward.notify.deliveries.fanout import DIGEST_TIMER
from steward.notify.deliveries.views import router as deliveries_router
from steward.notify.deliveries.worker import DeliveryWorker
from steward.notify.inbox.hub import InboxHub
from steward.notify.inbox.views import router as inbox_router
from steward.notify.preferences.views import router as preferences_router
from steward.notify.settings import NotifySettings
from steward.notify.subscribers import EventConsumer
from steward.notify.subscriptions.views import router as subscriptions_router
from steward.notify.templates import service as templates
from steward.notify.templates.views import router as templates_router

VERSION = "0.1.0"
PROJECT_CACHE_SECONDS = 30.0  # at the latest; events drop an entry at once
DESCRIPTION = """Every event reaches the right people on the right channel, once: in-app inbox (REST +
SSE), email, SMS gateway, WeCom/DingTalk/Feishu robots, signed webhooks; templates, preferences,
delivery status and dead letters; agency webhook subscriptions. See docs/notify.md."""

ROUTERS = (
    inbox_router,
    deliveries_router,
    subscriptions_router,
    templates_router,
    preferences_router,
    endpoints_router,
)


def build(
    settings: NotifySettings | None = None, *, registry: RegistryClient | None = None
) -> tuple[FastAPI, ServiceRuntime]:
    settings = settings or NotifySettings()
    sealing.configure(settings)  # signing secrets are sealed at rest (STEWARD_SECRETS_KEYS)
    templates.set_timezone(settings.notify_timezone)
    runtime = ServiceRuntime(settings)
    # projects and rosters cached (a filing's recipients without two registry calls), dropped on
    # their events in stream order (EventConsumer.handle_batch) and by every replica (follow_projects)
    registry = registry or RegistryClient(settings, project_ttl_seconds=PROJECT_CACHE_SECONDS)
    channels = Channels(settings)
    worker = DeliveryWorker(runtime.db, settings, channels)
    hub = InboxHub(settings.database_url)
    runtime.ctx = NotifyContext(
        settings=settings,
        db=runtime.db,
        clock=runtime.clock,
        registry=registry,
        channels=channels,
        worker=worker,
        hub=hub,
    )
    consumer = EventConsumer(runtime.db, registry, settings, on_committed=worker.wake)
    # in batches, with a subject filter that leaves notify's own delivery.* events out
    stream.subscribe(runtime, settings, consumer.handle_batch)

    follow_rules(runtime, registry, consumer=f"{settings.notify_consumer}-rules")
    follow_projects(runtime, registry, consumer=f"{settings.notify_consumer}-projects", rosters=True)
    runtime.add_timer(DIGEST_TIMER, digest_handler(settings))
    runtime.on_start(hub.start)
    runtime.add_worker("notify-deliveries", worker.run, worker.stop)
    runtime.on_stop(hub.stop)
    runtime.on_stop(channels.close)
    runtime.on_stop(registry.close)
    app = create_http_app(
        service=settings.service_name,
        title="Steward notify",
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
    return create_http_app(
        service="notify", title="Steward notify", version=VERSION, description=DESCRIPTION, routers=ROUTERS
    )
