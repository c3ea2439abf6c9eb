"""Consumer de-duplication: a row per (consumer, event id), inserted in the handler's transaction.

Delivery is at least once; a consumer calls :func:`first_delivery` in the transaction that applies
the event and skips the event when it was handled before — or, on a hot path, queues the row in
its write batch with :func:`queue_first` and makes the event's writes conditional on it. (The table keeps its first name,
``steward_inbox``, which every service's migrations created.)"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Field, SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit import writes
from steward.kit.db import utcnow


class ConsumedEvent(SQLModel, table=True):
    __tablename__ = "steward_inbox"

    consumer: str = Field(primary_key=True)
    event_id: uuid.UUID = Field(primary_key=True)
    received_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )


async def first_delivery(session: AsyncSession, *, consumer: str, event_id: str | uuid.UUID) -> bool:
    """Record the event for this consumer; ``False`` when it was handled before (skip it)."""
    stmt = (
        insert(ConsumedEvent)
        .values(consumer=consumer, event_id=uuid.UUID(str(event_id)), received_at=utcnow())
        .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
        .returning(col(ConsumedEvent.event_id))
    )
    return (await session.execute(stmt)).first() is not None


_TABLE = ConsumedEvent.__table__  # type: ignore[attr-defined]
_SEEN = "ON CONFLICT (consumer, event_id) DO NOTHING"


def queue_first(batch: writes.WriteBatch, *, consumer: str, event_id: str | uuid.UUID) -> object:
    """:func:`first_delivery` as a reporting part of ``batch`` (``steward.kit.writes``): the parts
    queued under ``batch.only_if(key)`` are written only on the first delivery, and after the
    block ``batch.wrote(key)`` is ``False`` for a repeat."""
    values = {"consumer": consumer, "event_id": uuid.UUID(str(event_id)), "received_at": utcnow()}
    return batch.insert(_TABLE, values, on_conflict=_SEEN, report=True)
