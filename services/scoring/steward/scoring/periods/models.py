"""Closed periods: the scorecard definition in force (frozen) and the totals it gave."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import JSONB
from steward.kit.ids import new_id


class ClosedPeriod(SQLModel, table=True):
    __tablename__ = "scoring_periods"
    __table_args__ = (sa.UniqueConstraint("tenant", "scorecard", "period", name="uq_scoring_periods"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    tenant: str = Field(max_length=12)
    tenant_path: str
    scorecard: str = Field(max_length=64)
    period: str = Field(max_length=16)
    closed_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    closed_by: str = Field(max_length=200)
    rules_version: str = Field(max_length=64, description="sha256 of the frozen scorecard definition")
    definition: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    totals: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    digest: str = Field(max_length=64)
    entries: int = 0
