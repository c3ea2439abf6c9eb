"""Tables of the minutes domain: the minutes of a meeting (会议纪要) and their acknowledgements."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import JSONB, tz_column
from steward.kit.ids import new_id


class Minutes(SQLModel, table=True):
    __tablename__ = "minutes"

    meeting_id: uuid.UUID = Field(foreign_key="meetings.id", primary_key=True)
    tenant_path: str
    number: str = Field(max_length=60, description="e.g. 〔2026〕第40期")
    title: str = Field(max_length=200)
    summary: str = Field(default="", max_length=10000, description="主持人总结 / 会议认为")
    status: str = Field(max_length=16, description="draft | signed | issued")
    recipients: list[dict[str, Any]] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    due_at: datetime = Field(sa_column=tz_column())
    overdue: bool = False
    drafted_by: str = Field(max_length=200)
    drafted_at: datetime = Field(sa_column=tz_column())
    signed_by: str | None = Field(default=None, max_length=200)
    signed_at: datetime | None = Field(default=None, sa_column=tz_column(nullable=True))
    issued_by: str | None = Field(default=None, max_length=200)
    issued_at: datetime | None = Field(default=None, sa_column=tz_column(nullable=True))


class Acknowledgement(SQLModel, table=True):
    """签收: a recipient confirmed receipt of the issued minutes."""

    __tablename__ = "minutes_acks"
    __table_args__ = (sa.UniqueConstraint("meeting_id", "recipient", name="uq_minutes_ack"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    meeting_id: uuid.UUID = Field(foreign_key="minutes.meeting_id", index=True)
    recipient: str = Field(max_length=200)
    acknowledged_at: datetime = Field(sa_column=tz_column())
