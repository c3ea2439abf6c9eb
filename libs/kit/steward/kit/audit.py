"""Audit trail: every write records who did what to which entity, and what changed (PIPL)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit import writes
from steward.kit.db import JSONB, utcnow
from steward.kit.ids import new_id


class AuditEntry(SQLModel, table=True):
    __tablename__ = "steward_audit"
    __table_args__ = (
        sa.Index("ix_steward_audit_entity", "entity", "entity_id"),
        sa.Index("ix_steward_audit_at", "at", "id"),  # the audit chain's rounds (kit.audit_chain)
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    actor: str
    tenant: str = Field(index=True)
    action: str
    entity: str
    entity_id: str
    changes: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONB, nullable=False))


_AUDIT: sa.Table = AuditEntry.__table__  # type: ignore[attr-defined]


async def record(
    session: AsyncSession,
    *,
    actor: str,
    tenant: str,
    action: str,
    entity: str,
    entity_id: str,
    changes: dict[str, Any] | None = None,
) -> None:
    values: dict[str, Any] = {
        "id": new_id(),
        "at": utcnow(),
        "actor": actor,
        "tenant": tenant,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "changes": changes or {},
    }
    batch = writes.current(session)
    if batch is not None:  # a plain row for the batch's statement: no ORM object to build and read back
        batch.insert(_AUDIT, values)
    else:
        session.add(AuditEntry(**values))


def plain(value: Any) -> Any:
    """A JSON-safe form of a changed value for audit records and change events (money keeps its
    two decimals as a string, never a float)."""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value
