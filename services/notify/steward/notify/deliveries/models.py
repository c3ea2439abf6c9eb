"""Deliveries: one row per (event, recipient, channel) — the unique key that makes a redelivered
event never send twice — and one row per attempt."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import JSONB, utcnow
from steward.kit.ids import new_id


class Status(StrEnum):
    PENDING = "pending"  # waiting for its due time (first try, retry, quiet hours)
    SENDING = "sending"  # claimed by a worker (committed), channel call in flight
    SENT = "sent"  # the channel accepted it
    DEAD_LETTERED = "dead_lettered"  # attempts exhausted; an admin (or the agency) may retry it
    HELD = "held"  # waits for the recipient's digest
    DIGESTED = "digested"  # went out inside a digest
    SKIPPED = "skipped"  # nothing to send (opted out, no address); kept for the record


OPEN = (Status.PENDING, Status.SENDING)


def _ts(*, nullable: bool = True, index: bool = False) -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable, index=index)


class Delivery(SQLModel, table=True):
    __tablename__ = "deliveries"
    __table_args__ = (
        sa.UniqueConstraint("event_id", "recipient", "channel", name="uq_deliveries_event_recipient_channel"),
        sa.Index("ix_deliveries_due", "due_at", postgresql_where=sa.text("status IN ('pending', 'sending')")),
        sa.Index("ix_deliveries_tenant_path", "tenant_path", "created_at"),
        sa.Index("ix_deliveries_subscription", "subscription_id", "status"),
        sa.Index("ix_deliveries_held", "recipient", "channel", postgresql_where=sa.text("status = 'held'")),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    tenant: str
    tenant_path: str
    event_id: str
    event_type: str
    event_time: datetime = Field(sa_column=_ts(nullable=False))
    recipient: str = Field(description="person:<id> | subject:<sub> | subscription:<id> | endpoint:<id>")
    recipient_name: str = ""
    recipient_subject: str | None = None
    channel: str
    address: str = ""
    severity: str = "info"
    locale: str = "zh-CN"
    title: str = ""
    body: str = ""
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONB, nullable=False))
    status: str = Field(default=Status.PENDING.value, index=True)
    attempts: int = 0
    max_attempts: int = 6
    due_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    attempt_id: uuid.UUID | None = None
    claimed_at: datetime | None = Field(default=None, sa_column=_ts())
    last_error: str | None = None
    deferred_reason: str | None = None
    subscription_id: uuid.UUID | None = None
    endpoint_id: uuid.UUID | None = None
    project_id: str | None = None
    digest_id: uuid.UUID | None = None
    sent_at: datetime | None = Field(default=None, sa_column=_ts())
    dead_lettered_at: datetime | None = Field(default=None, sa_column=_ts())
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class DeliveryAttempt(SQLModel, table=True):
    __tablename__ = "delivery_attempts"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    delivery_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False, index=True))
    attempt_id: uuid.UUID
    number: int
    started_at: datetime = Field(sa_column=_ts(nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=_ts())
    outcome: str = "started"  # started | ok | error
    error: str | None = None
