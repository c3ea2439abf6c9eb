"""Per-tenant template overrides (the defaults ship in code, zh-CN and en)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import utcnow
from steward.kit.ids import new_id


class TemplateOverride(SQLModel, table=True):
    __tablename__ = "template_overrides"
    __table_args__ = (sa.UniqueConstraint("tenant", "key", "locale", name="uq_template_tenant_key_locale"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    tenant: str = Field(index=True)
    key: str
    locale: str
    subject: str
    body: str
    html: str | None = None
    updated_by: str = ""
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
