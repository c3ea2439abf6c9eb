"""Composition of the notify service: REST routers, the event consumer, workers, runtime."""

from __future__ import annotations

from fastapi import FastAPI

from steward.kit.http import create_app as create_http_app
from steward.kit.registry_client import RegistryClient
from steward.notify import models  # noqa: F401  (registers every table)
from steward.notify.channels.views import router as endpoints_router
from steward.notify.deliveries.views import router as deliveries_router
from steward.notify.inbox.views import router as inbox_router
from steward.notify.preferences.views import router as preferences_router
from steward.notify.runtime import NotifyRuntime
from steward.notify.settings import NotifySettings
from steward.notify.subscriptions.views import router as subscriptions_router
from steward.notify.templates.views import router as templates_router

VERSION = "0.1.0"
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
) -> tuple[FastAPI, NotifyRuntime]:
    settings = settings or NotifySettings()
    runtime = NotifyRuntime(settings, registry=registry)
    app = create_http_app(
        service=settings.service_name,
        title="Steward notify",
        version=VERSION,
        description=DESCRIPTION,
        routers=ROUTERS,
        lifespan=runtime.lifespan,
        readiness=runtime.readiness(),
    )
    return app, runtime


def openapi_app() -> FastAPI:
    return create_http_app(
        service="notify", title="Steward notify", version=VERSION, description=DESCRIPTION, routers=ROUTERS
    )
