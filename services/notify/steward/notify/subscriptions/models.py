"""Agency webhook subscriptions: event type globs + a tenant subtree root."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import JSONB, utcnow
from steward.kit.ids import new_id


class AgencySubscription(SQLModel, table=True):
    __tablename__ = "agency_subscriptions"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    tenant: str = Field(index=True, description="subtree root: events of this tenant and below")
    owner_subject: str = Field(index=True)
    name: str
    url: str
    secret: str
    event_types: list[str] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    enabled: bool = True
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
