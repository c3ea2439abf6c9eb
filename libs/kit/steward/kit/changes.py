"""Record a change: the audit entry and the outbox event of a write, in the caller's transaction.

Every write ends the same way — who did what to which entity (the audit trail) and, when others
care, an event published after commit through the outbox. ``record_change`` is that ending, once.
"""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.envelope import CloudEvent, EventData
from steward.kit import audit
from steward.kit.outbox import emit


async def record_change(
    session: AsyncSession,
    *,
    actor: str,
    tenant: str,
    action: str,
    entity: str,
    entity_id: str,
    changes: dict[str, Any] | None = None,
    event: EventData | None = None,
    source: str,
    subject: str | None = None,
) -> CloudEvent | None:
    """Add the audit entry and, when ``event`` is given, the outbox event (``None`` otherwise).

    ``subject`` is the event's CloudEvents subject (usually the id of the aggregate it is about).
    Both rows are written in ``session``'s transaction: neither exists without the change."""
    await audit.record(
        session,
        actor=actor,
        tenant=tenant,
        action=action,
        entity=entity,
        entity_id=entity_id,
        changes=changes,
    )
    if event is None:
        return None
    return await emit(
        session,
        event,
        tenant=tenant,
        source=source,
        subject=subject,
        actor=actor,
    )
