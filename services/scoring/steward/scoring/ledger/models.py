"""The score ledger: append-only entries (a database trigger refuses UPDATE and DELETE).

An entry is idempotent on (scorecard, rule, source, subject): the same event delivered three times,
or the same manual key posted twice, writes one row. A correction is an opposite entry whose
``corrects`` points at the original (at most one correction per entry)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import JSONB
from steward.kit.ids import new_id

MANUAL_RULE = "manual"
CORRECTION_RULE = "correction"


def _tz(nullable: bool = False) -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class ScoreEntry(SQLModel, table=True):
    __tablename__ = "scoring_entries"
    __table_args__ = (
        sa.UniqueConstraint(
            "scorecard", "rule", "source", "subject_kind", "subject_id", name="uq_scoring_entries_idempotent"
        ),
        sa.Index("ix_scoring_entries_subject", "scorecard", "period", "subject_id"),
        sa.Index(
            "ix_scoring_entries_path",
            "scorecard",
            "period",
            "tenant_path",
            postgresql_ops={"tenant_path": "text_pattern_ops"},
        ),
        sa.Index(
            "uq_scoring_entries_corrects",
            "corrects",
            unique=True,
            postgresql_where=sa.text("corrects IS NOT NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    tenant: str = Field(max_length=12)
    tenant_path: str
    scorecard: str = Field(max_length=64)
    period: str = Field(max_length=16)
    subject_kind: str = Field(max_length=16)
    subject_id: str = Field(max_length=64)
    subject_name: str | None = Field(default=None, max_length=200)
    dimension: str = Field(max_length=64)
    points: Decimal = Field(sa_column=sa.Column(sa.Numeric(10, 2), nullable=False))
    rule: str = Field(max_length=64)
    source: str = Field(max_length=80, description="event id, manual key or corrected entry id")
    source_type: str = Field(max_length=80)
    reason_zh: str
    occurred_at: datetime = Field(sa_column=_tz())
    recorded_at: datetime = Field(sa_column=_tz())
    actor: str | None = Field(default=None, max_length=200)
    corrects: uuid.UUID | None = Field(default=None, foreign_key="scoring_entries.id")
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONB, nullable=False))
