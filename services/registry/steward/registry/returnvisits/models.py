"""Return visits (回访) on service-log entries: the service room picks a specialist's service records
of a month and calls the enterprise back (seed 003: accept → handle → monthly statistics → return visit)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import utcnow
from steward.kit.ids import new_id


class ReturnVisit(SQLModel, table=True):
    __tablename__ = "return_visits"
    __table_args__ = (
        sa.Index(
            "ix_return_visits_path_month",
            "tenant_path",
            "month",
            postgresql_ops={"tenant_path": "text_pattern_ops"},
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    entry_id: uuid.UUID = Field(foreign_key="service_log_entries.id", unique=True)
    tenant_code: str
    tenant_path: str
    month: str = Field(max_length=7, description="YYYY-MM of the service record (Asia/Shanghai)")
    picked_by: str
    picked_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    called_by: str | None = Field(default=None, max_length=100)
    called_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    answer: str = ""
    satisfaction: str | None = Field(default=None, max_length=32)
    recorded_by: str | None = None
