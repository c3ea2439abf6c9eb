"""Tables of the registry's inbound interface (docs/inbound.md): the inbound log — every message
another system sent, applied once per (system, message id) — and the facts the statistics system
reports about a project: its inclusion in statistics (入库/纳统) and its monthly investment."""

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


class InboundMessage(SQLModel, table=True):
    __tablename__ = "project_inbound_messages"
    __table_args__ = (
        sa.Index(
            "uq_project_inbound_applied",
            "system",
            "message_id",
            unique=True,
            postgresql_where=sa.text("result = 'applied'"),
        ),
        sa.Index("ix_project_inbound_received", "system", "received_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    system: str = Field(max_length=64, description="the sending system's configured name")
    system_tenant: str = Field(max_length=12)
    message_id: str = Field(max_length=128, description="the sender's own message id")
    kind: str = Field(max_length=64)
    project_code: str | None = Field(default=None, max_length=40)
    received_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    result: str = Field(max_length=16, description="applied | refused")
    status: int = 200
    error_code: str | None = Field(default=None, max_length=64)
    error: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(JSONB))
    target: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONB, nullable=False))
    body: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONB, nullable=False))


class ProjectStatistics(SQLModel, table=True):
    """Where the project stands in the statistics system: 入库 (in the project library), then 纳统
    (counted in fixed-asset investment statistics)."""

    __tablename__ = "project_statistics"

    project_id: uuid.UUID = Field(foreign_key="projects.id", primary_key=True)
    status: str = Field(max_length=16, description="in_library | in_statistics")
    statistics_code: str | None = Field(default=None, max_length=64, description="统计库项目编码")
    in_library_on: date | None = None
    in_statistics_on: date | None = None
    reported_by: str
    updated_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class MonthlyInvestment(SQLModel, table=True):
    """The investment the statistics system counted for a project in one month (统计口径)."""

    __tablename__ = "project_monthly_investment"
    __table_args__ = (
        sa.CheckConstraint("amount >= 0", name="ck_monthly_investment_nonneg"),
        sa.CheckConstraint("cumulative IS NULL OR cumulative >= 0", name="ck_monthly_cumulative_nonneg"),
    )

    project_id: uuid.UUID = Field(foreign_key="projects.id", primary_key=True)
    month: str = Field(primary_key=True, max_length=7, description="YYYY-MM")
    amount: Decimal = Field(sa_column=sa.Column(MONEY, nullable=False))
    cumulative: Decimal | None = Field(default=None, sa_column=sa.Column(MONEY))
    reported_by: str
    reported_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
