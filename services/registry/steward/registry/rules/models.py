from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import JSONB, utcnow
from steward.kit.ids import new_id


class RulesVersion(SQLModel, table=True):
    """One stored version of a tenant's own rules override (merged onto its parent's at read time)."""

    __tablename__ = "rules_versions"
    __table_args__ = (
        sa.UniqueConstraint("tenant_code", "version", name="uq_rules_versions_tenant_version"),
        sa.Index("ix_rules_versions_lookup", "tenant_code", "effective_from"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    tenant_code: str = Field(foreign_key="tenants.code")
    version: int
    document: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    effective_from: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    comment: str = ""
    created_by: str
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
