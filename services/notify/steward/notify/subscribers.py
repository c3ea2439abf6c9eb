"""The one durable consumer (``notify``) on ``steward.events.>`` (notify's own ``delivery.*`` left
out by its subject filter, see :mod:`steward.notify.stream`), in batches: the events' plans are made
concurrently (registry calls outside the transaction, each project and roster fetched once per
batch), then one transaction records the batch's de-duplication rows (``steward_inbox``, the kit's
consumer de-duplication table) and writes its fan-out in bulk; the messages are acknowledged after
the commit. A batch that fails as a whole is handled again event by event, so one bad event never
holds back the others."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence

import structlog

from steward.events.envelope import CloudEvent
from steward.kit.clients.registry import RegistryClient
from steward.kit.db import Database, utcnow
from steward.kit.errors import NotFound, ValidationFailed
from steward.kit.transient import is_transient
from steward.notify import metrics
from steward.notify.access import check_tenant_code
from steward.notify.deliveries import bulk, lookups
from steward.notify.deliveries.fanout import FanOut, FanOutBatch
from steward.notify.routing.service import Lookups, Plan, plan_event
from steward.notify.settings import NotifySettings
from steward.notify.stream import OWN_AGGREGATES, Outcome, own_events

__all__ = ["EventConsumer", "inbox_key", "own_events"]

log = structlog.get_logger(__name__)


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
        """One event (a batch of one); raises what its handling raised."""
        (outcome,) = await self.handle_batch([event])
        if outcome.error is not None:
            raise outcome.error

    async def handle_batch(self, events: Sequence[CloudEvent]) -> list[Outcome]:
        outcomes = [Outcome() for _ in events]
        for event in events:  # before any plan: an event after a change is routed on what it changed
            short = event.short_type
            if short == "rules.updated":
                self.registry.invalidate_rules(str(event.data.get("tenant") or event.tenant))
            elif short.startswith(("project.", "roster.")) and event.data.get("project_id"):
                self.registry.invalidate_project(
                    str(event.data["project_id"]), str(event.data.get("code") or "")
                )
        lookups = Lookups(self.registry, not_before=max(e.time for e in events))
        plans: list[Plan | None] = list(
            await asyncio.gather(*(self._plan(e, o, lookups) for e, o in zip(events, outcomes, strict=True)))
        )
        todo = [(i, p) for i, p in enumerate(plans) if p is not None]
        if not todo:
            return outcomes
        try:
            results = await self._apply(todo)
        except Exception as exc:
            if is_transient(exc) or len(todo) == 1:
                for i, _ in todo:
                    outcomes[i].error = exc
                return outcomes
            # one event's data broke the batch's transaction: each again on its own
            log.warning("notify.batch_failed", events=len(todo), error=str(exc)[:300])
            results = {}
            for i, plan in todo:
                try:
                    results.update(await self._apply([(i, plan)]))
                except Exception as one:
                    outcomes[i].error = one
        self._log(events, results, len(todo))
        if any(r.queued for r in results.values()):
            self.on_committed()
        return outcomes

    async def _plan(self, event: CloudEvent, outcome: Outcome, lookups: Lookups) -> Plan | None:
        short = event.short_type
        if short.split(".", 1)[0] in OWN_AGGREGATES:
            return None
        try:
            check_tenant_code(event.tenant)
            return await plan_event(event, self.registry, lookups)
        except (NotFound, ValidationFailed) as exc:
            # a tenant (or project) the registry does not know, or no tenant code at all: retrying
            # cannot help, so the event is acknowledged without deliveries and counted, instead of
            # cycling into the dead letters
            metrics.UNROUTABLE.labels(short).inc()
            log.warning(
                "notify.unroutable_event", event_id=event.id, type=short, tenant=event.tenant, error=str(exc)
            )
        except Exception as exc:
            outcome.error = exc
        return None

    async def _apply(self, todo: list[tuple[int, Plan]]) -> dict[int, FanOut]:
        """One transaction: the de-duplication rows, then the fan-out of the events seen first."""
        results: dict[int, FanOut] = {}
        async with self.db.transaction() as session:
            keys = [inbox_key(plan.event.id) for _, plan in todo]
            fresh = await bulk.first_deliveries(
                session, consumer=self.settings.notify_consumer, event_ids=keys
            )
            batch = FanOutBatch(session, settings=self.settings, now=utcnow())
            await lookups.prefetch(
                batch, [plan for (_, plan), key in zip(todo, keys, strict=True) if key in fresh]
            )
            for (i, plan), key in zip(todo, keys, strict=True):
                if key not in fresh:
                    log.info("notify.duplicate_event", event_id=plan.event.id, type=plan.short_type)
                    continue
                fresh.discard(key)  # the same event twice in one batch: handled once
                results[i] = await batch.add(plan)
            await batch.flush()
        return results

    def _log(self, events: Sequence[CloudEvent], results: dict[int, FanOut], planned: int) -> None:
        for i, r in results.items():  # DEBUG: a line per event (filtered out at INFO at no cost)
            log.debug(
                "notify.event_routed",
                event_id=events[i].id,
                type=events[i].short_type,
                inbox=len(r.inbox),
                queued=r.queued,
                held=r.held,
                skipped=r.skipped,
                subscriptions=r.subscriptions,
            )
        log.info(
            "notify.events_routed",
            events=len(events),
            routed=len(results),
            planned=planned,
            inbox=sum(len(r.inbox) for r in results.values()),
            queued=sum(r.queued for r in results.values()),
            held=sum(r.held for r in results.values()),
            skipped=sum(r.skipped for r in results.values()),
        )
