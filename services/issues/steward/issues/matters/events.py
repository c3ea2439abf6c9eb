"""History rows (append-only) and the change record (audit entry + outbox event) of a matter."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events import issues as ev
from steward.events.envelope import EventData
from steward.issues.matters.models import Matter, MatterHistory
from steward.issues.settings import SOURCE
from steward.kit import writes
from steward.kit.changes import record_change
from steward.kit.ids import new_id
from steward.kit.outbox import emit

_HISTORY: sa.Table = MatterHistory.__table__  # type: ignore[attr-defined]


def matter_event(m: Matter, event: type[ev._MatterEvent], **extra: Any) -> ev._MatterEvent:
    """A matter event carrying the matter's common fields (``extra``: the event's own)."""
    return event(
        matter_id=str(m.id),
        number=m.number,
        kind=m.kind,
        category=m.category,
        tier=m.tier,  # type: ignore[arg-type]
        level=m.key_level,
        project_id=m.project_id,
        project_code=m.project_code,
        handling_tenant=m.handling_tenant,
        responsible_unit_id=m.responsible_unit_id,
        due_at=m.due_at,
        **extra,
    )


async def record(
    session: AsyncSession,
    m: Matter,
    *,
    actor: str,
    action: str,
    at: datetime,
    from_status: str | None = None,
    to_status: str | None = None,
    reason: str = "",
    data: dict[str, Any] | None = None,
    event: EventData | None = None,
) -> None:
    """Append a history row and record the change (audit entry, and ``event`` when given)."""
    history: dict[str, Any] = {
        "id": new_id(),
        "matter_id": m.id,
        "at": at,
        "actor": actor,
        "action": action,
        "from_status": from_status,
        "to_status": to_status,
        "reason": reason,
        "data": data or {},
    }
    batch = writes.current(session)
    if batch is not None:  # a plain row for the batch's one statement (no ORM object to build)
        batch.insert(_HISTORY, history)
    else:
        session.add(MatterHistory(**history))
    await record_change(
        session,
        actor=actor,
        tenant=m.tenant_code,
        action=action,
        entity="matter",
        entity_id=str(m.id),
        changes={"from": from_status, "to": to_status, "reason": reason, **(data or {})},
        event=event,
        source=SOURCE,
        subject=str(m.id),
    )


async def publish(
    session: AsyncSession, m: Matter, event: type[ev._MatterEvent], *, actor: str, **extra: Any
) -> None:
    """An event without a history row (reminders, system notices): outbox only."""
    await emit(
        session,
        matter_event(m, event, **extra),
        tenant=m.tenant_code,
        source=SOURCE,
        subject=str(m.id),
        actor=actor,
    )
