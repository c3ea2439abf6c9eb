"""Change requests to a project's node plan: the owner proposes new planned dates, the lead
department (牵头单位) approves or rejects them (docs/reports.md "Node-plan templates")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import JSONB, utcnow
from steward.kit.ids import new_id


class NodePlanChange(SQLModel, table=True):
    """One proposed adjustment of planned node dates; it takes effect only when approved."""

    __tablename__ = "node_plan_changes"
    __table_args__ = (
        sa.Index(
            "uq_node_plan_changes_pending",
            "project_id",
            unique=True,
            postgresql_where=sa.text("status = 'pending'"),
        ),
        sa.Index(
            "ix_node_plan_changes_path", "tenant_path", postgresql_ops={"tenant_path": "text_pattern_ops"}
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    project_id: uuid.UUID = Field(foreign_key="projects.id", index=True)
    tenant_code: str
    tenant_path: str
    status: str = Field(max_length=16, description="pending | approved | rejected")
    items: list[dict[str, Any]] = Field(
        default_factory=list,
        sa_column=sa.Column(JSONB, nullable=False),
        description="[{milestone_id, key, name, old_date, planned_date}]",
    )
    reason: str
    requested_by: str
    requested_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    approver_unit_ids: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(JSONB, nullable=False),
        description="the lead department's unit(s) on the roster when requested",
    )
    decided_by: str | None = None
    decided_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    decision_reason: str | None = None
    moved: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=sa.Column(JSONB, nullable=False),
        description="when approved: node key -> [old planned date, new planned date]",
    )
    row_version: int = 1
