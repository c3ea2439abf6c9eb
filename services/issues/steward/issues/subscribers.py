"""Consumers: ``rules.updated`` drops the registry client's cached rules of the tenant's subtree
(durable consumer ``issues-rules``, idempotent through the inbox). Deadlines already fixed are never
moved by a rules change (DESIGN §3); only matters filed afterwards see the new rules."""

from __future__ import annotations

import structlog

from steward.events.envelope import CloudEvent
from steward.issues.context import IssuesContext
from steward.kit.inbox import first_delivery

log = structlog.get_logger(__name__)

RULES_SUBJECT = "steward.events.*.rules.updated"
RULES_CONSUMER = "issues-rules"


def rules_updated_handler(ctx: IssuesContext):  # type: ignore[no-untyped-def]
    async def handle(event: CloudEvent) -> None:
        tenant = str(event.data.get("tenant") or event.tenant)
        async with ctx.db.transaction() as session:
            first = await first_delivery(session, consumer=RULES_CONSUMER, event_id=event.id)
        if first:
            ctx.registry.invalidate_rules(tenant)
            log.info("issues.rules_invalidated", tenant=tenant, event_id=event.id)

    return handle
