"""Supervision orders (督办单): issued by supervisors on a matter, with their own deadline."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.ids import new_id


class SupervisionOrder(SQLModel, table=True):
    __tablename__ = "supervision_orders"
    __table_args__ = (
        sa.Index("ix_supervision_matter", "matter_id"),
        sa.Index(
            "ix_supervision_path",
            "tenant_path",
            "issued_at",
            postgresql_ops={"tenant_path": "text_pattern_ops"},
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    matter_id: uuid.UUID = Field(foreign_key="matters.id")
    tenant_code: str = Field(max_length=12, description="the matter's home tenant")
    tenant_path: str
    issued_by: str
    issuer_tenant: str = Field(max_length=12)
    instructions: str
    issued_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    due_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    status: str = Field(default="open", max_length=16, description="open | answered")
    overdue: bool = False
    response: str | None = None
    responded_by: str | None = None
    responded_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
