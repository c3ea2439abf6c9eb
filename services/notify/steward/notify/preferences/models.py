"""Per-person preferences, keyed by login subject."""

from __future__ import annotations

from datetime import datetime, time

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import JSONB, utcnow


class Preference(SQLModel, table=True):
    __tablename__ = "preferences"

    subject: str = Field(primary_key=True)
    tenant: str
    locale: str = "zh-CN"
    opt_out_channels: list[str] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    quiet_start: time | None = None
    quiet_end: time | None = None
    digest: bool = True
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
