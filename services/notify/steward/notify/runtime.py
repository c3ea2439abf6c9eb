"""Notify's process: the kit runtime plus the delivery worker, the registry client, the channel
senders and the live inbox hub (started and stopped by the FastAPI lifespan)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request

from steward.events.envelope import CloudEvent
from steward.kit.registry_client import RegistryClient
from steward.kit.runtime import ServiceRuntime
from steward.notify.channels.dispatch import Channels
from steward.notify.consumer import EventConsumer
from steward.notify.deliveries.digest import digest_handler
from steward.notify.deliveries.fanout import DIGEST_TIMER
from steward.notify.deliveries.worker import DeliveryWorker
from steward.notify.inbox.hub import InboxHub
from steward.notify.settings import NotifySettings
from steward.notify.templates import service as templates


class NotifyRuntime(ServiceRuntime):
    settings: NotifySettings

    def __init__(self, settings: NotifySettings, *, registry: RegistryClient | None = None) -> None:
        super().__init__(settings)
        templates.set_timezone(settings.notify_timezone)
        # grpc.aio channels bind to the running loop: without an injected client, one is created in
        # start(), inside the server's loop (``serve`` builds the app before the loop exists)
        self._own_registry = registry is None
        self.registry: RegistryClient = registry or _Unstarted()  # type: ignore[assignment]
        self.channels = Channels(settings)
        self.worker = DeliveryWorker(self.db, settings, self.channels)
        self.hub = InboxHub(settings.database_url)
        self.consumer = EventConsumer(self.db, self.registry, settings, on_committed=self.worker.wake)
        self.add_subscription(
            f"{settings.events_subject_prefix}.>",
            consumer=settings.notify_consumer,
            handler=self.consumer.handle,
        )
        # every replica keeps its own rules cache: each drops it on rules.updated (the shared consumer
        # above reaches only one replica per event)
        self.add_subscription(
            f"{settings.events_subject_prefix}.*.rules.updated",
            consumer=f"{settings.notify_consumer}-rules",
            handler=self._drop_rules,
            per_replica=True,
        )
        self.add_timer(DIGEST_TIMER, digest_handler(settings))
        self._worker_task: asyncio.Task[None] | None = None

    async def _drop_rules(self, event: CloudEvent) -> None:
        self.registry.invalidate_rules(str(event.data.get("tenant") or event.tenant))

    async def start(self) -> None:
        if self._own_registry:
            self.registry = RegistryClient(self.settings)
            self.consumer.registry = self.registry
        await super().start()
        await self.hub.start()
        self._worker_task = asyncio.create_task(self.worker.run(), name="notify-deliveries")

    async def stop(self) -> None:
        await self.worker.stop()
        if self._worker_task is not None:
            self._worker_task.cancel()
            await asyncio.gather(self._worker_task, return_exceptions=True)
        await self.hub.stop()
        await super().stop()
        await self.channels.close()
        await self.registry.close()

    def readiness(self) -> list[tuple[str, Any]]:
        return [*super().readiness()]


class _Unstarted:
    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("the registry client is created when the runtime starts")


def runtime_of(request: Request) -> NotifyRuntime:
    rt: NotifyRuntime = request.app.state.runtime
    return rt
