"""The durable consumer (``scoring``) of every service's events (``steward.events.>``): idempotent
through the kit's consumer de-duplication and the ledger's own unique key, the tenant's rules read
outside the transaction, entries, surveys and lights written in one transaction, acked after commit.
Events of services written later (meetings …) are scored as soon as a rule names their type."""

from __future__ import annotations

import uuid
from contextlib import nullcontext

import structlog

from steward.api.registry.v1 import registry_pb2 as pb
from steward.events.envelope import CloudEvent
from steward.kit import dedup, writes
from steward.kit.dedup import first_delivery
from steward.kit.errors import NotFound, ValidationFailed
from steward.kit.inputs import is_tenant_code
from steward.scoring import metrics
from steward.scoring.context import ScoringContext
from steward.scoring.lights import service as lights
from steward.scoring.rules.engine import entries_for, people_named, queue_entries, scored_by
from steward.scoring.settings import SOURCE
from steward.scoring.surveys import service as surveys

log = structlog.get_logger(__name__)

EVENTS_SUBJECT = "steward.events.>"
RULES_CONSUMER = "scoring-rules"  # per replica: steward.kit.clients.registry.follow_rules


def inbox_key(event_id: str) -> uuid.UUID:
    """The de-duplication table keys on UUIDs; foreign ids map to a stable UUIDv5."""
    try:
        return uuid.UUID(event_id)
    except ValueError:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"steward-event:{event_id}")


class EventConsumer:
    def __init__(self, ctx: ScoringContext) -> None:
        self.ctx = ctx

    async def handle(self, event: CloudEvent) -> None:
        ctx = self.ctx
        short = event.short_type
        if event.source.startswith(SOURCE):  # our own events: never score scores
            return
        if short == "rules.updated":  # in order with the events after it (every replica: follow_rules)
            ctx.registry.invalidate_rules(str(event.data.get("tenant") or event.tenant))
        if not is_tenant_code(event.tenant):
            metrics.EVENTS.labels("unroutable").inc()
            return
        try:
            codes = await ctx.registry.ancestry_codes(event.tenant)
            rules = await ctx.registry.rules(event.tenant)
        except (NotFound, ValidationFailed) as exc:
            metrics.EVENTS.labels("unroutable").inc()
            log.warning("scoring.unroutable_event", event_id=event.id, type=short, error=str(exc))
            return
        ordered = people_named(event) is not None or lights.concerns(event)
        if not ordered and not (scored_by(short, rules) or surveys.triggered_by(short, rules)):
            # nothing this event could write (no rule, survey or light names its type, and it names
            # no matter's people): no transaction and no de-duplication row. Notify's delivery.*
            # events, one per message sent, were half of what scoring handled (issue 15)
            metrics.EVENTS.labels("not_scored").inc()
            return
        path = "/".join(codes)
        project: lights.Registered | pb.Project | None = None
        if short == "project.registered" and "annual_plan_investment" in event.data:
            project = lights.registered(event)  # the event carries the light's plan figures and dates
        elif short in ("project.registered", "project.updated") and event.data.get("project_id"):
            try:  # plan figures and dates for the warning light, read outside the transaction
                project = await ctx.registry.project(str(event.data["project_id"]))
            except (NotFound, ValidationFailed):
                project = None
        consumer, event_id = ctx.settings.events_consumer, inbox_key(event.id)
        # An event that teaches who handles a matter (an upsert whose answer the rules use) or moves
        # a project's light (read under a lock) is applied after its de-duplication row, as before.
        # Any other is one statement with it: entries, surveys and their events written only if the
        # row is new (steward.kit.writes, conditional parts).
        async with ctx.db.transaction() as session:
            if ordered and not await first_delivery(session, consumer=consumer, event_id=event_id):
                metrics.EVENTS.labels("duplicate").inc()
                return
            now = ctx.clock()
            entries = await entries_for(session, event=event, rules=rules, path=path, now=now)
            # unordered, the statement is the transaction: sent alone when nothing went before it
            async with writes.batched(session, last=not ordered) as batch:
                first = None
                if not ordered:
                    first = dedup.queue_first(batch, consumer=consumer, event_id=event_id)
                with batch.only_if(first) if first is not None else nullcontext():
                    queued = await queue_entries(session, batch, entries)
                    await surveys.queue_sent(
                        session, batch, ctx=ctx, event=event, rules=rules, path=path, now=now
                    )
            if first is not None and not batch.wrote(first):
                metrics.EVENTS.labels("duplicate").inc()
                return
            written = [entry for entry, key in queued if batch.wrote(key)]
            if ordered:
                await lights.on_event(session, event=event, rules=rules, path=path, now=now, project=project)
        metrics.EVENTS.labels("ok").inc()
        if written:
            metrics.ENTRIES.labels("event").inc(len(written))
