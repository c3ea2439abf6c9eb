"""Tables of the procedures domain: a project's procedure file (代办档案) and material submissions with
their one-time notices (一次性告知). Each procedure itself is a matter of kind ``procedure``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import JSONB, utcnow
from steward.kit.ids import new_id


class ProcedureFile(SQLModel, table=True):
    __tablename__ = "procedure_files"
    __table_args__ = (
        sa.Index(
            "ix_procedure_files_path", "tenant_path", postgresql_ops={"tenant_path": "text_pattern_ops"}
        ),
        sa.Index("ix_procedure_files_project", "project_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    tenant_code: str = Field(max_length=12)
    tenant_path: str
    project_id: str = Field(max_length=36)
    project_code: str = Field(max_length=40)
    project_name: str = Field(max_length=200)
    owner_unit_id: str | None = Field(default=None, max_length=36)
    key_level: str = "none"
    level1_agent: str = Field(max_length=200, description="一级代办员")
    green_channel: bool = False
    status: str = Field(default="open", max_length=16)
    created_by: str
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    handed_over_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    received_by: str | None = None


class Submission(SQLModel, table=True):
    """Materials submitted for one procedure; answered by acceptance or ONE notice of all corrections."""

    __tablename__ = "procedure_submissions"
    __table_args__ = (
        sa.Index("ix_submissions_matter", "matter_id", "submitted_at"),
        sa.Index(
            "ix_submissions_late",
            "tenant_path",
            "submitted_at",
            postgresql_where=sa.text("late"),
            postgresql_ops={"tenant_path": "text_pattern_ops"},
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    matter_id: uuid.UUID = Field(foreign_key="matters.id")
    file_id: uuid.UUID = Field(foreign_key="procedure_files.id")
    tenant_code: str = Field(max_length=12)
    tenant_path: str
    submitted_by: str
    submitted_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    materials: list[str] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    note: str = ""
    due_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    status: str = Field(default="pending", max_length=16, description="pending | complete | notice_issued")
    decided_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    decided_by: str | None = None
    notice_items: list[str] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    late: bool = False
    details: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONB, nullable=False))
