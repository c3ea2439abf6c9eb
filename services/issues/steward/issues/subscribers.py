"""Consumers: ``rules.updated`` drops the registry client's cached rules of the tenant's subtree.
Every replica has its own cache, so every replica gets every event (a per-replica consumer named
``issues-rules-<replica>``); dropping a cache twice is harmless, so no inbox row is needed. Deadlines
already fixed are never moved by a rules change (docs/architecture.md); only matters filed afterwards see the
new rules."""

from __future__ import annotations

import structlog

from steward.events.envelope import CloudEvent
from steward.issues.context import IssuesContext

log = structlog.get_logger(__name__)

RULES_SUBJECT = "steward.events.*.rules.updated"
RULES_CONSUMER = "issues-rules"


def rules_updated_handler(ctx: IssuesContext):  # type: ignore[no-untyped-def]
    async def handle(event: CloudEvent) -> None:
        tenant = str(event.data.get("tenant") or event.tenant)
        ctx.registry.invalidate_rules(tenant)
        log.info("issues.rules_invalidated", tenant=tenant, event_id=event.id)

    return handle
