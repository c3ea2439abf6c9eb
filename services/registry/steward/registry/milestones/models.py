"""Network-plan (挂图作战) milestones: planned vs actual dates with an owner unit."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import JSONB, utcnow
from steward.kit.ids import new_id


class Milestone(SQLModel, table=True):
    __tablename__ = "milestones"
    __table_args__ = (
        sa.Index("ix_milestones_path", "tenant_path", postgresql_ops={"tenant_path": "text_pattern_ops"}),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    project_id: uuid.UUID = Field(foreign_key="projects.id", index=True)
    tenant_code: str
    tenant_path: str
    key: str | None = Field(default=None, max_length=64, description="e.g. land_contract_signed")
    name: str = Field(max_length=200)
    seq: int = 0
    planned_start: date | None = None
    planned_date: date
    actual_date: date | None = None
    owner_unit_id: uuid.UUID | None = Field(default=None, foreign_key="units.id")
    weight: int = 1
    template: str | None = Field(default=None, max_length=64, description="node-plan template it came from")
    after: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(JSONB, nullable=False, server_default="[]"),
        description="keys of the nodes this one follows (node plans)",
    )
    duration_days: int | None = Field(default=None, description="working days, start day counted")
    delayed_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    created_by: str
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    row_version: int = 1
