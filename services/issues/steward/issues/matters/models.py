"""Tables of the matters domain: matters, their append-only history and the number counters."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import JSONB, utcnow
from steward.kit.ids import new_id

OPEN_STATUSES = ("filed", "accepted", "in_progress", "returned")
_OPEN_SQL = sa.text("status IN ('filed', 'accepted', 'in_progress', 'returned')")
# list filters with an index (<filter>, filed_at, id) each (migration 0004)
KEYED_FILTERS = (
    "status",
    "category",
    "responsible_unit_id",
    "handling_tenant",
    "owner_unit_id",
    "project_id",
)
# the list's text search (q): character bigrams of title and number (migration 0004)
SEARCH_BIGRAMS = "steward_bigrams(lower(title || ' ' || number))"


def _tz(nullable: bool = True) -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class Matter(SQLModel, table=True):
    """One tracked matter of any kind (obstacle, procedure, decision, complaint)."""

    __tablename__ = "matters"
    __table_args__ = (
        sa.UniqueConstraint("tenant_code", "idempotency_key", name="uq_matters_idempotency"),
        sa.Index(
            "ix_matters_path_filed",
            "tenant_path",
            "filed_at",
            "id",
            postgresql_ops={"tenant_path": "text_pattern_ops"},
        ),
        sa.Index("ix_matters_open_unit", "responsible_unit_id", "filed_at", postgresql_where=_OPEN_SQL),
        sa.Index("ix_matters_open_stats", "tenant_code", "kind", "overdue", postgresql_where=_OPEN_SQL),
        sa.Index("ix_matters_overdue", "tenant_path", "filed_at", postgresql_where=sa.text("overdue")),
        sa.Index("ix_matters_filed", "filed_at", "id"),  # the newest-first list, any subtree
        *(sa.Index(f"ix_matters_{c}_filed", c, "filed_at", "id") for c in KEYED_FILTERS),
        sa.Index("ix_matters_search", sa.text(SEARCH_BIGRAMS), postgresql_using="gin"),
        sa.Index("ix_matters_meeting", "meeting_id"),
        sa.Index("ix_matters_file", "procedure_file_id"),
        sa.CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="ck_matters_rating"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    number: str = Field(max_length=40, unique=True, description="编号: <tenant>-<year>-<letter>-<seq>")
    tenant_code: str = Field(max_length=12, description="home tenant (where filed)")
    tenant_path: str
    ancestry: list[dict[str, str]] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    handling_tenant: str = Field(max_length=12)
    kind: str = Field(max_length=16)
    category: str | None = Field(default=None, max_length=64)
    sub_item: str | None = Field(default=None, max_length=64)
    title: str = Field(max_length=200)
    description: str = ""
    project_id: str | None = Field(default=None, max_length=36)
    project_code: str | None = Field(default=None, max_length=40)
    project_name: str | None = Field(default=None, max_length=200)
    owner_unit_id: str | None = Field(default=None, max_length=36)
    key_level: str = "none"
    reporter: str = Field(max_length=200)
    reporter_unit_id: str | None = Field(default=None, max_length=36)
    responsible_unit_id: str | None = Field(default=None, max_length=36)
    responsible_unit_name: str | None = Field(default=None, max_length=200)
    responsible_person: str | None = Field(default=None, max_length=200)
    tier: str = Field(max_length=16)
    status: str = Field(max_length=16)
    difficult: bool = False
    details: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONB, nullable=False))
    attachments: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=sa.Column(JSONB, nullable=False)
    )
    policy: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONB, nullable=False))
    sla_days: int
    filed_at: datetime = Field(sa_column=_tz(False))
    due_at: datetime = Field(sa_column=_tz(False))
    answer_due_at: datetime | None = Field(default=None, sa_column=_tz())
    answered_at: datetime | None = Field(default=None, sa_column=_tz())
    paused_at: datetime | None = Field(default=None, sa_column=_tz())
    pause_reason: str | None = None
    paused_working_days: int = 0
    overdue: bool = False
    overdue_at: datetime | None = Field(default=None, sa_column=_tz())
    ever_overdue: bool = False
    escalations: int = 0
    meeting_topic_at: datetime | None = Field(default=None, sa_column=_tz())
    accepted_at: datetime | None = Field(default=None, sa_column=_tz())
    resolved_at: datetime | None = Field(default=None, sa_column=_tz())
    closed_at: datetime | None = Field(default=None, sa_column=_tz())
    resolution: str | None = None
    rating: int | None = None
    rating_comment: str | None = None
    idempotency_key: str | None = Field(default=None, max_length=200)
    meeting_id: str | None = Field(default=None, max_length=64)
    decision_id: str | None = Field(default=None, max_length=64)
    procedure_file_id: uuid.UUID | None = Field(default=None, foreign_key="procedure_files.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=_tz(False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_tz(False))
    row_version: int = 1


class MatterHistory(SQLModel, table=True):
    """Append-only: who did what to a matter, when, and why (rows are never updated or deleted)."""

    __tablename__ = "matter_history"
    __table_args__ = (sa.Index("ix_matter_history_matter", "matter_id", "at", "id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    matter_id: uuid.UUID = Field(foreign_key="matters.id")
    at: datetime = Field(sa_column=_tz(False))
    actor: str
    action: str = Field(max_length=32)
    from_status: str | None = None
    to_status: str | None = None
    reason: str = ""
    data: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONB, nullable=False))


class MatterNumberCounter(SQLModel, table=True):
    """Per tenant, year and kind letter, the last sequence number handed out; never reused."""

    __tablename__ = "matter_number_counters"

    tenant_code: str = Field(primary_key=True)
    year: int = Field(primary_key=True)
    letter: str = Field(primary_key=True, max_length=1)
    last: int = 0
