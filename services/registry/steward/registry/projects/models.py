from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import JSONB, utcnow
from steward.kit.ids import new_id

MONEY = sa.Numeric(20, 2)
# the list's text search (q): character bigrams of name, code and national code (migration 0011)
SEARCH_BIGRAMS = "steward_bigrams(lower(name || ' ' || code || ' ' || coalesce(national_code, '')))"


class Project(SQLModel, table=True):
    __tablename__ = "projects"
    __table_args__ = (
        sa.Index(
            "ix_projects_path_created",
            "tenant_path",
            "created_at",
            "id",
            postgresql_ops={"tenant_path": "text_pattern_ops"},
        ),
        sa.Index("ix_projects_created", "created_at", "id"),  # the newest-first list, any subtree
        sa.Index("ix_projects_owner_created", "owner_unit_id", "created_at", "id"),
        sa.Index("ix_projects_search", sa.text(SEARCH_BIGRAMS), postgresql_using="gin"),
        sa.CheckConstraint("total_investment >= 0", name="ck_projects_investment_nonneg"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    code: str = Field(max_length=32, unique=True, description="一项一码: <tenant>-<year>-<seq>")
    national_code: str | None = Field(
        default=None, max_length=24, unique=True, description="全国投资项目代码 (GB/T 40058), normalised"
    )
    tenant_code: str = Field(foreign_key="tenants.code", index=True)
    tenant_path: str
    name: str = Field(max_length=200)
    owner_unit_id: uuid.UUID | None = Field(default=None, foreign_key="units.id")
    total_investment: Decimal = Field(sa_column=sa.Column(MONEY, nullable=False))
    annual_plan_investment: Decimal | None = Field(default=None, sa_column=sa.Column(MONEY))
    funding_type: str
    industry: str = Field(default="", max_length=100)
    key_level: str = "none"
    major: bool = False
    stage: str = Field(index=True)
    stage_before_suspension: str | None = None
    tier: str = Field(index=True)
    on_platform: bool
    steward_required: bool
    named_responsibility: bool
    derivation: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONB, nullable=False))
    lat: float | None = None
    lon: float | None = None
    address: str = ""
    planned_start: date | None = None
    planned_completion: date | None = None
    created_by: str
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    row_version: int = 1


class StageChange(SQLModel, table=True):
    """Append-only lifecycle history: who moved the project, when, from where to where and why."""

    __tablename__ = "project_stage_changes"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    project_id: uuid.UUID = Field(foreign_key="projects.id", index=True)
    from_stage: str | None
    to_stage: str
    reason: str
    actor: str
    at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )


class ProjectCodeCounter(SQLModel, table=True):
    """Per tenant and year, the last sequence number handed out; codes are never reused."""

    __tablename__ = "project_code_counters"

    tenant_code: str = Field(primary_key=True)
    year: int = Field(primary_key=True)
    last: int = 0
