"""Ranking members (with groups), exemptions, indicator values, published rankings and consequences."""

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


class RankingMember(SQLModel, table=True):
    __tablename__ = "scoring_ranking_members"
    __table_args__ = (sa.UniqueConstraint("tenant", "ranking", "subject_id", name="uq_scoring_members"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    tenant: str = Field(max_length=12)
    ranking: str = Field(max_length=64)
    subject_id: str = Field(max_length=64)
    subject_name: str = Field(max_length=200)
    group: str = Field(default="", max_length=64, sa_column_kwargs={"name": "grp"})


class RankingExemption(SQLModel, table=True):
    __tablename__ = "scoring_exemptions"
    __table_args__ = (
        sa.UniqueConstraint("tenant", "ranking", "period", "subject_id", name="uq_scoring_exemptions"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    tenant: str = Field(max_length=12)
    ranking: str = Field(max_length=64)
    period: str = Field(max_length=16)
    subject_id: str = Field(max_length=64)
    reason: str
    approver: str = Field(max_length=200)
    recorded_by: str = Field(max_length=200)
    recorded_at: datetime = Field(sa_column=_tz())


class IndicatorValue(SQLModel, table=True):
    """A ranked value for rankings without a scorecard (e.g. the city's monthly district indicators)."""

    __tablename__ = "scoring_indicators"
    __table_args__ = (
        sa.UniqueConstraint("tenant", "ranking", "period", "subject_id", name="uq_scoring_indicators"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    tenant: str = Field(max_length=12)
    ranking: str = Field(max_length=64)
    period: str = Field(max_length=16)
    subject_id: str = Field(max_length=64)
    value: Decimal = Field(sa_column=sa.Column(sa.Numeric(14, 2), nullable=False))
    recorded_by: str = Field(max_length=200)
    recorded_at: datetime = Field(sa_column=_tz())


class PublishedRanking(SQLModel, table=True):
    __tablename__ = "scoring_rankings"
    __table_args__ = (sa.UniqueConstraint("tenant", "ranking", "period", name="uq_scoring_rankings"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    tenant: str = Field(max_length=12)
    tenant_path: str
    ranking: str = Field(max_length=64)
    period: str = Field(max_length=16)
    published_at: datetime = Field(sa_column=_tz())
    published_by: str = Field(max_length=200)
    definition: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    rows: list[dict[str, Any]] = Field(sa_column=sa.Column(JSONB, nullable=False))


class Consequence(SQLModel, table=True):
    """One consequence (通报表扬/批评, 警告, 诫勉谈话, 书面检查, 报组织部门) — once per cause."""

    __tablename__ = "scoring_consequences"
    __table_args__ = (
        sa.UniqueConstraint(
            "tenant", "source", "cause", "subject_id", "action", name="uq_scoring_consequences"
        ),
        sa.Index(
            "ix_scoring_consequences_path", "tenant_path", postgresql_ops={"tenant_path": "text_pattern_ops"}
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    tenant: str = Field(max_length=12)
    tenant_path: str
    source: str = Field(max_length=16, description="ranking | survey")
    definition: str = Field(max_length=64, description="ranking or survey key")
    cause: str = Field(max_length=80, description="period (rankings) or survey id")
    subject_kind: str = Field(max_length=16)
    subject_id: str = Field(max_length=64)
    subject_name: str | None = Field(default=None, max_length=200)
    action: str = Field(max_length=40)
    streak: int = 1
    reason_zh: str
    triggered_at: datetime = Field(sa_column=_tz())
