"""Project warning lights (红黄绿灯): the inputs scoring keeps per project and every change of light."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import JSONB
from steward.kit.ids import new_id


def _tz(nullable: bool = False) -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


def _money(nullable: bool = True) -> Any:
    return sa.Column(sa.Numeric(16, 2), nullable=nullable)


class ProjectLight(SQLModel, table=True):
    __tablename__ = "scoring_project_lights"
    __table_args__ = (
        sa.Index("ix_scoring_lights_path", "tenant_path", postgresql_ops={"tenant_path": "text_pattern_ops"}),
    )

    project_id: str = Field(primary_key=True, max_length=64)
    tenant: str = Field(max_length=12)
    tenant_path: str
    code: str = Field(default="", max_length=40)
    name: str = Field(default="", max_length=200)
    stage: str = Field(default="", max_length=24)
    light: str = Field(default="green", max_length=8)
    reasons: list[str] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    annual_plan: Decimal | None = Field(default=None, sa_column=_money())
    investment_year: Decimal | None = Field(default=None, sa_column=_money())
    funds_planned: Decimal | None = Field(default=None, sa_column=_money())
    funds_in_place: Decimal | None = Field(default=None, sa_column=_money())
    planned_start: str | None = Field(default=None, max_length=10)
    planned_completion: str | None = Field(default=None, max_length=10)
    started_on: str | None = Field(default=None, max_length=10)
    completed_on: str | None = Field(default=None, max_length=10)
    delayed_milestones: list[str] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    overdue_matters: list[str] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    missing_reports: list[str] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    updated_at: datetime = Field(sa_column=_tz())


class LightChange(SQLModel, table=True):
    __tablename__ = "scoring_light_changes"
    __table_args__ = (sa.Index("ix_scoring_light_changes_project", "project_id", "at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    project_id: str = Field(max_length=64)
    tenant: str = Field(max_length=12)
    from_light: str = Field(max_length=8)
    to_light: str = Field(max_length=8)
    reasons: list[str] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    at: datetime = Field(sa_column=_tz())
    source_event: str | None = Field(default=None, max_length=80)
