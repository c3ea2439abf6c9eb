"""Agents' weekly work reports (代办员周工作报告): one per agent and ISO week, and once-only notices."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import JSONB, utcnow
from steward.kit.ids import new_id


def _ts() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(sa.DateTime(timezone=True), nullable=False)


class AgentReport(SQLModel, table=True):
    __tablename__ = "agent_reports"
    __table_args__ = (
        sa.UniqueConstraint("person_id", "period_key", name="uq_agent_reports_person_period"),
        sa.Index("ix_agent_reports_path", "tenant_path", postgresql_ops={"tenant_path": "text_pattern_ops"}),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    person_id: uuid.UUID = Field(foreign_key="people.id", index=True)
    tenant_code: str
    tenant_path: str
    period_key: str = Field(max_length=16)
    due_at: datetime = Field(sa_column=_ts())
    submitted_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    submitted_by: str
    late: bool
    delay_seconds: int = 0
    progress_text: str = ""
    problems_text: str = ""
    projects: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_column=sa.Column(JSONB, nullable=False),
        description="per project of the agent: code, name, stage, the week's milestones and notes",
    )
    matters: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_column=sa.Column(JSONB, nullable=False, server_default="[]"),
        description="the agent's matters of the week in the issues service, as they stood then",
    )


class AgentReportNotice(SQLModel, table=True):
    """``agent_report.overdue`` at most once per agent and week (the primary key makes it so)."""

    __tablename__ = "agent_report_notices"

    person_id: uuid.UUID = Field(foreign_key="people.id", primary_key=True)
    period_key: str = Field(primary_key=True, max_length=16)
    kind: str = Field(primary_key=True, max_length=32)
    at: datetime = Field(default_factory=utcnow, sa_column=_ts())
