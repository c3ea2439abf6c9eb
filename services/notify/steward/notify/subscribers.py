"""The one durable consumer (``notify``) on ``steward.events.>``: idempotent through the kit's
consumer de-duplication (``steward.kit.dedup``), routing from the tenant's effective rules, fan-out in one transaction, then a nudge to the worker
and to live inbox streams."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import structlog

from steward.events.envelope import CloudEvent
from steward.kit.clients.registry import RegistryClient
from steward.kit.db import Database, utcnow
from steward.kit.dedup import first_delivery
from steward.kit.errors import NotFound, ValidationFailed
from steward.notify import metrics
from steward.notify.access import check_tenant_code
from steward.notify.deliveries.fanout import fan_out
from steward.notify.routing.service import plan_event
from steward.notify.settings import NotifySettings

log = structlog.get_logger(__name__)

IGNORED_AGGREGATES = ("delivery",)  # our own events: never notify about notifications


def own_events(prefix: str) -> Callable[[str], bool]:
    """The bus-level skip of notify's consumer: ``<prefix>.<tenant>.delivery.*`` (its own events)
    are acknowledged without being decoded or handled."""
    depth = prefix.count(".") + 2  # the aggregate's position: prefix parts, then the tenant

    def skip(subject: str) -> bool:
        parts = subject.split(".", depth + 1)
        return len(parts) > depth and parts[depth] in IGNORED_AGGREGATES

    return skip


def inbox_key(event_id: str) -> uuid.UUID:
    """``steward.kit.dedup`` keys on UUIDs; foreign ids (not UUIDs) map to a stable UUIDv5."""
    try:
        return uuid.UUID(event_id)
    except ValueError:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"steward-event:{event_id}")


class EventConsumer:
    def __init__(
        self,
        db: Database,
        registry: RegistryClient,
        settings: NotifySettings,
        *,
        on_committed: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.settings = settings
        self.on_committed = on_committed

    async def handle(self, event: CloudEvent) -> None:
        short = event.short_type
        if short.split(".", 1)[0] in IGNORED_AGGREGATES:
            return
        if short == "rules.updated":
            self.registry.invalidate_rules(str(event.data.get("tenant") or event.tenant))
        try:
            check_tenant_code(event.tenant)
            plan = await plan_event(event, self.registry)  # registry calls stay outside the transaction
        except (NotFound, ValidationFailed) as exc:
            # a tenant (or project) the registry does not know, or no tenant code at all: retrying
            # cannot help, so the event is acknowledged without deliveries and counted, instead of
            # cycling into the dead letters
            metrics.UNROUTABLE.labels(short).inc()
            log.warning(
                "notify.unroutable_event", event_id=event.id, type=short, tenant=event.tenant, error=str(exc)
            )
            return
        async with self.db.transaction() as session:
            if not await first_delivery(
                session, consumer=self.settings.notify_consumer, event_id=inbox_key(event.id)
            ):
                log.info("notify.duplicate_event", event_id=event.id, type=short)
                return
            result = await fan_out(session, plan=plan, settings=self.settings, now=utcnow())
        log.info(
            "notify.event_routed",
            event_id=event.id,
            type=short,
            inbox=len(result.inbox),
            queued=result.queued,
            held=result.held,
            skipped=result.skipped,
            subscriptions=result.subscriptions,
        )
        if result.queued:
            self.on_committed()
