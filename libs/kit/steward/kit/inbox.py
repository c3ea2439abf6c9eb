"""Idempotent consumers: a row per (consumer, event id), inserted in the handler's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Field, SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.db import utcnow


class InboxEntry(SQLModel, table=True):
    __tablename__ = "steward_inbox"

    consumer: str = Field(primary_key=True)
    event_id: uuid.UUID = Field(primary_key=True)
    received_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )


async def first_delivery(session: AsyncSession, *, consumer: str, event_id: str | uuid.UUID) -> bool:
    """Record the event for this consumer; ``False`` when it was handled before (skip it)."""
    stmt = (
        insert(InboxEntry)
        .values(consumer=consumer, event_id=uuid.UUID(str(event_id)), received_at=utcnow())
        .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
        .returning(col(InboxEntry.event_id))
    )
    return (await session.execute(stmt)).first() is not None
