"""Tables of the meetings domain: meetings (regular and ad hoc) and attendance per person."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import JSONB, tz_column, utcnow
from steward.kit.ids import new_id

OPEN_STATUSES = ("scheduled", "compiled")


class Meeting(SQLModel, table=True):
    __tablename__ = "meetings"
    __table_args__ = (
        # one generated meeting per series and regular date: generation is idempotent
        sa.Index(
            "uq_meetings_series_date",
            "series_id",
            "regular_date",
            unique=True,
            postgresql_where=sa.text("kind = 'regular'"),
        ),
        sa.Index(
            "ix_meetings_path_start",
            "tenant_path",
            "starts_at",
            "id",
            postgresql_ops={"tenant_path": "text_pattern_ops"},
        ),
        sa.Index("ix_meetings_series_start", "series_id", "starts_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    series_id: uuid.UUID | None = Field(default=None, foreign_key="series.id")
    series_key: str | None = Field(default=None, max_length=64)
    tenant_code: str = Field(max_length=12)
    tenant_path: str
    kind: str = Field(max_length=16, description="regular | ad_hoc")
    seq: int = Field(default=0, description="第N次 within the series (0 for skipped meetings)")
    title: str = Field(max_length=200)
    status: str = Field(max_length=16, description="scheduled | compiled | held | cancelled | skipped")
    regular_date: date | None = None
    starts_at: datetime = Field(sa_column=tz_column())
    location: str = Field(default="", max_length=200)
    holiday_note: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=2000)
    agenda_deadline_at: datetime | None = Field(default=None, sa_column=tz_column(nullable=True))
    compile_due: date | None = None
    chair_subject: str | None = Field(default=None, max_length=200)
    chair_name: str | None = Field(default=None, max_length=200)
    participants: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=sa.Column(JSONB, nullable=False)
    )
    notice_sent_at: datetime | None = Field(default=None, sa_column=tz_column(nullable=True))
    compiled_at: datetime | None = Field(default=None, sa_column=tz_column(nullable=True))
    held_at: datetime | None = Field(default=None, sa_column=tz_column(nullable=True))
    created_by: str = Field(default="system", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=tz_column())


class Attendance(SQLModel, table=True):
    """出席情况: one row per person and meeting."""

    __tablename__ = "attendance"
    __table_args__ = (
        sa.UniqueConstraint("meeting_id", "person", name="uq_attendance_person"),
        sa.Index("ix_attendance_person", "person", "starts_at"),
        sa.Index("ix_attendance_unit", "unit_id", "starts_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    meeting_id: uuid.UUID = Field(foreign_key="meetings.id", index=True)
    tenant_path: str
    starts_at: datetime = Field(sa_column=tz_column())
    person: str = Field(max_length=200, description="subject or registry person id")
    name: str = Field(max_length=200)
    unit_id: str | None = Field(default=None, max_length=64)
    unit_name: str | None = Field(default=None, max_length=200)
    status: str = Field(max_length=16, description="present | late | leave | deputy | absent | observer")
    reason: str | None = Field(default=None, max_length=2000)
    deputy_name: str | None = Field(default=None, max_length=200)
    recorded_by: str = Field(max_length=200)
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=tz_column())
