"""The in-app inbox: one message per (event, person)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import utcnow
from steward.kit.ids import new_id


class InboxMessage(SQLModel, table=True):
    __tablename__ = "inbox_messages"
    __table_args__ = (
        sa.UniqueConstraint("event_id", "recipient_subject", name="uq_inbox_event_recipient"),
        sa.Index("ix_inbox_recipient", "recipient_subject", "created_at"),
        sa.Index("ix_inbox_unread", "recipient_subject", postgresql_where=sa.text("read_at IS NULL")),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    tenant: str
    # the event's tenant ancestry ("210100/210112/210112004"): a message is shown only to tokens of a
    # tenant on that path (subject alone is not enough)
    tenant_path: str = Field(default="", sa_column_kwargs={"server_default": ""})
    recipient_subject: str
    event_id: str
    event_type: str
    severity: str = "info"
    title: str
    body: str
    link: str | None = None
    project_id: str | None = None
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    read_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
