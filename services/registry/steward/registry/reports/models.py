"""Progress reports, their correction records and the once-only notices (due soon / overdue)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import JSONB, utcnow
from steward.kit.ids import new_id

MONEY = sa.Numeric(20, 2)


def _ts(nullable: bool = False) -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class ProgressReport(SQLModel, table=True):
    """One report of one project for one period of one schedule (unique)."""

    __tablename__ = "progress_reports"
    __table_args__ = (
        sa.UniqueConstraint("project_id", "schedule_key", "period_key", name="uq_reports_project_period"),
        sa.Index(
            "ix_reports_path_period",
            "tenant_path",
            "period_key",
            postgresql_ops={"tenant_path": "text_pattern_ops"},
        ),
        sa.CheckConstraint("investment_period >= 0", name="ck_reports_period_nonneg"),
        sa.CheckConstraint("investment_cumulative >= 0", name="ck_reports_cumulative_nonneg"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    project_id: uuid.UUID = Field(foreign_key="projects.id", index=True)
    tenant_code: str = Field(index=True)
    tenant_path: str
    schedule_key: str = Field(max_length=64)
    period_key: str = Field(max_length=16)
    due_at: datetime = Field(sa_column=_ts())
    submitted_at: datetime = Field(sa_column=_ts())
    submitted_by: str
    late: bool = False
    delay_seconds: int = 0
    investment_period: Decimal = Field(sa_column=sa.Column(MONEY, nullable=False))
    investment_cumulative: Decimal = Field(sa_column=sa.Column(MONEY, nullable=False))
    progress_text: str = ""
    problems_text: str = ""
    milestone_updates: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=sa.Column(JSONB, nullable=False)
    )
    obstacle_ids: list[str] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    signed_by: str | None = None
    signed_at: datetime | None = Field(default=None, sa_column=_ts(True))
    paper_signed: bool = False
    row_version: int = 1
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class ReportCorrection(SQLModel, table=True):
    """Append-only: who changed a report's figures, when and why (cumulative may only drop here)."""

    __tablename__ = "report_corrections"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    report_id: uuid.UUID = Field(foreign_key="progress_reports.id", index=True)
    changes: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONB, nullable=False))
    reason: str
    actor: str
    at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class ReportNotice(SQLModel, table=True):
    """A notice published at most once per project, schedule, period and kind (``overdue``,
    ``due_soon:<n>``). The primary key is what makes ``report.overdue`` once-only, whatever the
    number of replicas or timer re-arms."""

    __tablename__ = "report_notices"

    project_id: uuid.UUID = Field(foreign_key="projects.id", primary_key=True)
    schedule_key: str = Field(primary_key=True, max_length=64)
    period_key: str = Field(primary_key=True, max_length=16)
    kind: str = Field(primary_key=True, max_length=32)
    at: datetime = Field(default_factory=utcnow, sa_column=_ts())
