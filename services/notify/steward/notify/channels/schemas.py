from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from steward.kit.inputs import Input, TenantCode


class EndpointIn(Input):
    tenant: TenantCode
    channel: Literal["wecom", "dingtalk", "feishu", "webhook"]
    name: str = Field(min_length=1, max_length=100)
    url: str = Field(min_length=8, max_length=2000)
    secret: str | None = Field(
        default=None, max_length=200, description="DingTalk/Feishu signing secret; webhook HMAC secret"
    )
    enabled: bool = True


class EndpointOut(BaseModel):
    id: uuid.UUID
    tenant: str
    channel: str
    name: str
    url: str
    enabled: bool
    has_secret: bool
    created_at: datetime


class EndpointList(BaseModel):
    items: list[EndpointOut]
