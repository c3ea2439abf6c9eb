"""Circulars (情况通报): the DRC's periodic circular compiled from a period's report summary."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import JSONB, utcnow
from steward.kit.ids import new_id


class Circular(SQLModel, table=True):
    __tablename__ = "circulars"
    __table_args__ = (
        sa.UniqueConstraint("tenant_code", "period", "schedule_key", name="uq_circulars_tenant_period"),
        sa.UniqueConstraint("tenant_code", "year", "number", name="uq_circulars_number"),
        sa.Index("ix_circulars_path", "tenant_path", postgresql_ops={"tenant_path": "text_pattern_ops"}),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    tenant_code: str = Field(foreign_key="tenants.code")
    tenant_path: str
    period: str = Field(max_length=16)
    schedule_key: str = Field(max_length=64)
    year: int
    number: int = Field(description="第N期 within the tenant's year")
    title: str = Field(max_length=200)
    remarks: str = ""
    issued_by: str
    issued_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    content: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=sa.Column(JSONB, nullable=False),
        description="the frozen summary the circular was compiled from (CircularContent)",
    )
