"""Satisfaction surveys (满意度测评) with one-time answer links, and rectifications (整改)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import JSONB
from steward.kit.ids import new_id


def _tz(nullable: bool = False) -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class Survey(SQLModel, table=True):
    __tablename__ = "scoring_surveys"
    __table_args__ = (
        sa.UniqueConstraint("survey", "source_event", "subject_id", name="uq_scoring_surveys_source"),
        sa.Index("ix_scoring_surveys_subject", "subject_id", "answered_at"),
        sa.Index(
            "ix_scoring_surveys_path", "tenant_path", postgresql_ops={"tenant_path": "text_pattern_ops"}
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    tenant: str = Field(max_length=12)
    tenant_path: str
    survey: str = Field(max_length=64)
    subject_kind: str = Field(max_length=16)
    subject_id: str = Field(max_length=64, description="the agent (代办员) rated")
    project_id: str | None = Field(default=None, max_length=64)
    project_code: str | None = Field(default=None, max_length=40)
    file_id: str | None = Field(default=None, max_length=64)
    contact: str = Field(max_length=200, description="the enterprise contact who answers")
    source_event: str = Field(max_length=80)
    sent_at: datetime = Field(sa_column=_tz())
    expires_at: datetime = Field(sa_column=_tz())
    answered_at: datetime | None = Field(default=None, sa_column=_tz(True))
    answers: dict[str, str] = Field(default_factory=dict, sa_column=sa.Column(JSONB, nullable=False))
    overall: str | None = Field(default=None, max_length=24)
    comment: str = ""


class Rectification(SQLModel, table=True):
    __tablename__ = "scoring_rectifications"
    __table_args__ = (
        sa.UniqueConstraint("survey_id", name="uq_scoring_rectifications_survey"),
        sa.Index("ix_scoring_rect_path", "tenant_path", postgresql_ops={"tenant_path": "text_pattern_ops"}),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    tenant: str = Field(max_length=12)
    tenant_path: str
    survey_id: uuid.UUID = Field(foreign_key="scoring_surveys.id")
    subject_id: str = Field(max_length=64)
    opened_at: datetime = Field(sa_column=_tz())
    due_at: datetime = Field(sa_column=_tz())
    status: str = Field(default="open", max_length=16)
    overdue: bool = False
    callbacks: list[dict[str, Any]] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=_tz(True))
    closed_by: str | None = Field(default=None, max_length=200)
    close_reason: str | None = None
    confirmed_by_enterprise: bool = False
