"""Table of the series domain: one row per meeting series of a tenant (from its rules)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import JSONB, tz_column, utcnow
from steward.kit.ids import new_id


class Series(SQLModel, table=True):
    """A weekly meeting series (周例会制度) of a tenant: a snapshot of its rule (``spec``, the
    ``MeetingSeries`` model) and calendar overrides, refreshed when the tenant's rules change."""

    __tablename__ = "series"
    __table_args__ = (sa.UniqueConstraint("tenant_code", "key", name="uq_series_tenant_key"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    tenant_code: str = Field(max_length=12, index=True)
    tenant_path: str
    key: str = Field(max_length=64)
    name: str = Field(max_length=200)
    spec: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONB, nullable=False))
    calendar: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONB, nullable=False))
    location: str = Field(default="", max_length=200)
    chair_subject: str | None = Field(default=None, max_length=200)
    chair_name: str | None = Field(default=None, max_length=200)
    participants: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=sa.Column(JSONB, nullable=False)
    )
    active: bool = True
    meetings_count: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_column=tz_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=tz_column())
