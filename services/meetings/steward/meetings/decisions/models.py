"""Tables of the decisions domain: statements made at a meeting and the decisions taken."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import tz_column, utcnow
from steward.kit.ids import new_id


class Statement(SQLModel, table=True):
    """汇报 / 表态发言: the responsible unit's report and the departments' statements on a topic."""

    __tablename__ = "statements"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    meeting_id: uuid.UUID = Field(foreign_key="meetings.id", index=True)
    topic_id: uuid.UUID | None = Field(default=None, foreign_key="topics.id")
    kind: str = Field(max_length=16, description="report | statement | summary")
    unit_name: str = Field(max_length=200)
    speaker: str = Field(default="", max_length=200)
    text: str = Field(max_length=10000)
    recorded_by: str = Field(max_length=200)
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=tz_column())


class Decision(SQLModel, table=True):
    """A decision (议定事项): responsible unit, deadline; filed once as a ``decision`` matter."""

    __tablename__ = "decisions"
    __table_args__ = (
        sa.UniqueConstraint("meeting_id", "number", name="uq_decisions_number"),
        sa.Index("ix_decisions_unfiled", "recorded_at", postgresql_where=sa.text("matter_id IS NULL")),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    meeting_id: uuid.UUID = Field(foreign_key="meetings.id", index=True)
    topic_id: uuid.UUID | None = Field(default=None, foreign_key="topics.id")
    tenant_code: str = Field(max_length=12)
    tenant_path: str
    number: int
    text: str = Field(max_length=2000)
    responsible_unit_id: str | None = Field(default=None, max_length=64)
    responsible_unit_name: str = Field(max_length=200)
    responsible_person: str | None = Field(default=None, max_length=200)
    project_id: str | None = Field(default=None, max_length=64)
    due_date: date
    deadline_source: str = Field(max_length=16, description="chair | default")
    matter_id: str | None = Field(default=None, max_length=64)
    matter_number: str | None = Field(default=None, max_length=40)
    filed_at: datetime | None = Field(default=None, sa_column=tz_column(nullable=True))
    filing_error: str | None = Field(
        default=None, max_length=500, description="refused by the issues service"
    )
    recorded_by: str = Field(max_length=200)
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=tz_column())
