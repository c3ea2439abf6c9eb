"""Service log (服务台账): visits and services, reviewed by the business-environment bureau; and the
once-only compliance notices."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import JSONB, utcnow
from steward.kit.ids import new_id


def _ts(nullable: bool = False) -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class ServiceLogEntry(SQLModel, table=True):
    __tablename__ = "service_log_entries"
    __table_args__ = (
        sa.Index(
            "ix_servicelog_path_time",
            "tenant_path",
            "visited_at",
            postgresql_ops={"tenant_path": "text_pattern_ops"},
        ),
        sa.Index("ix_servicelog_project_time", "project_id", "visited_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    project_id: uuid.UUID = Field(foreign_key="projects.id")
    tenant_code: str
    tenant_path: str
    kind: str = "visit"
    on_site: bool = True
    visited_at: datetime = Field(sa_column=_ts())
    place: str = Field(max_length=300)
    participants: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=sa.Column(JSONB, nullable=False)
    )
    problems_solved: str = ""
    matter_ids: list[str] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    status: str = "submitted"  # submitted | approved | returned
    submitted_by: str
    submitted_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    reviewed_by: str | None = None
    reviewed_at: datetime | None = Field(default=None, sa_column=_ts(True))
    return_reason: str | None = None
    row_version: int = 1


class ComplianceNotice(SQLModel, table=True):
    __tablename__ = "visit_compliance_notices"

    project_id: uuid.UUID = Field(foreign_key="projects.id", primary_key=True)
    role: str = Field(primary_key=True, max_length=64)
    period_key: str = Field(primary_key=True, max_length=16)
    at: datetime = Field(default_factory=utcnow, sa_column=_ts())
