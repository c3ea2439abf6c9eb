"""Tenant channel endpoints: group robots (WeCom, DingTalk, Feishu) and generic signed webhooks.

Routes name a channel; the endpoints configured for that channel on the event's tenant (or its
nearest ancestor that has any) receive one message per event, mentioning the recipients."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import utcnow
from steward.kit.ids import new_id


class ChannelEndpoint(SQLModel, table=True):
    __tablename__ = "channel_endpoints"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    tenant: str = Field(index=True)
    channel: str  # wecom | dingtalk | feishu | webhook
    name: str
    url: str
    secret: str | None = None
    enabled: bool = True
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
