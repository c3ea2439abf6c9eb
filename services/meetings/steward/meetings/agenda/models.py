"""Tables of the agenda domain: topics (议题), their sign-offs and the compiled agenda."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import JSONB, tz_column, utcnow
from steward.kit.ids import new_id


class Topic(SQLModel, table=True):
    __tablename__ = "topics"
    __table_args__ = (
        sa.Index("ix_topics_meeting", "meeting_id", "submitted_at"),
        sa.Index("ix_topics_series_status", "series_id", "status"),
        sa.Index(
            "ix_topics_path",
            "tenant_path",
            "submitted_at",
            "id",
            postgresql_ops={"tenant_path": "text_pattern_ops"},
        ),
        sa.UniqueConstraint("tenant_code", "source_key", name="uq_topics_source"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    series_id: uuid.UUID | None = Field(default=None, foreign_key="series.id")
    meeting_id: uuid.UUID = Field(foreign_key="meetings.id", description="the meeting it is on now")
    requested_meeting_id: uuid.UUID = Field(description="the meeting it was submitted for")
    tenant_code: str = Field(max_length=12)
    tenant_path: str
    title: str = Field(max_length=200)
    problem: str = Field(default="", max_length=2000, description="存在的困难和问题")
    request: str = Field(default="", max_length=2000, description="需协调解决的问题及建议")
    project_id: str | None = Field(default=None, max_length=64)
    project_name: str | None = Field(default=None, max_length=200)
    unit_id: str | None = Field(default=None, max_length=64, description="submitting unit")
    unit_name: str = Field(max_length=200)
    departments: list[str] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    matter_ids: list[str] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    submitter: str = Field(max_length=200)
    status: str = Field(max_length=16, description="submitted | compiled | discussed | withdrawn")
    source: str = Field(default="submitted", max_length=16, description="submitted | escalated")
    source_key: str | None = Field(default=None, max_length=100, description="escalated: matter:<id>")
    late: bool = False
    urgent: bool = False
    urgent_reason: str | None = Field(default=None, max_length=2000)
    deferrals: int = 0
    position: int | None = None
    submitted_at: datetime = Field(sa_column=tz_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=tz_column())


class SignOff(SQLModel, table=True):
    """签字: one per topic and required role, with who and when."""

    __tablename__ = "topic_signoffs"
    __table_args__ = (sa.UniqueConstraint("topic_id", "role", name="uq_signoff_role"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    topic_id: uuid.UUID = Field(foreign_key="topics.id", index=True)
    role: str = Field(max_length=32)
    subject: str = Field(max_length=200)
    name: str = Field(max_length=200)
    unit_id: str | None = Field(default=None, max_length=64)
    comment: str = Field(default="", max_length=2000)
    signed_at: datetime = Field(sa_column=tz_column())


class Agenda(SQLModel, table=True):
    """The compiled agenda (会议议程) of a meeting, in the series' fixed order; recompiling bumps
    ``version`` until the meeting is held."""

    __tablename__ = "agendas"

    meeting_id: uuid.UUID = Field(foreign_key="meetings.id", primary_key=True)
    version: int = 1
    document: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONB, nullable=False))
    compiled_by: str = Field(max_length=200)
    compiled_at: datetime = Field(sa_column=tz_column())
