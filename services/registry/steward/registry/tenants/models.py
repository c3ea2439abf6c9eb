from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import utcnow


class Tenant(SQLModel, table=True):
    """A node of the tenant tree, keyed by its administrative division code."""

    __tablename__ = "tenants"
    __table_args__ = (sa.Index("ix_tenants_path", "path", postgresql_ops={"path": "text_pattern_ops"}),)

    code: str = Field(primary_key=True, max_length=12)
    name: str = Field(max_length=100)
    kind: str = Field(max_length=16)
    parent_code: str | None = Field(default=None, foreign_key="tenants.code", index=True)
    path: str = Field(max_length=200)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
