"""The inbound log: every message another system sent (docs/inbound.md) — who sent it, its id and
kind, when it arrived, whether it was applied or refused and why. An applied message's (system,
message id) is unique: delivered again, it is answered as a duplicate and changes nothing."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import JSONB, utcnow
from steward.kit.ids import new_id


class InboundMessage(SQLModel, table=True):
    __tablename__ = "procedure_inbound_messages"
    __table_args__ = (
        sa.Index(
            "uq_procedure_inbound_applied",
            "system",
            "message_id",
            unique=True,
            postgresql_where=sa.text("result = 'applied'"),
        ),
        sa.Index("ix_procedure_inbound_received", "system", "received_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    system: str = Field(max_length=64, description="the sending system's configured name")
    system_tenant: str = Field(max_length=12)
    message_id: str = Field(max_length=128, description="the sender's own message id")
    kind: str = Field(max_length=64)
    project_code: str | None = Field(default=None, max_length=40)
    received_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    result: str = Field(max_length=16, description="applied | refused")
    status: int = 200
    error_code: str | None = Field(default=None, max_length=64)
    error: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(JSONB))
    target: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONB, nullable=False))
    body: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONB, nullable=False))
