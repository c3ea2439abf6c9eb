from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from steward.kit.inputs import Input, TenantCode


class SubscriptionCreate(Input):
    tenant: TenantCode = Field(description="subtree root: this tenant and below")
    name: str = Field(min_length=1, max_length=100)
    url: str = Field(min_length=8, max_length=2000)
    event_types: list[str] = Field(
        min_length=1, max_length=50, description="globs: matter.*, project.registered"
    )
    enabled: bool = True


class SubscriptionUpdate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    url: str | None = Field(default=None, min_length=8, max_length=2000)
    event_types: list[str] | None = Field(default=None, min_length=1, max_length=50)
    enabled: bool | None = None


class SubscriptionOut(BaseModel):
    id: uuid.UUID
    tenant: str
    owner_subject: str
    name: str
    url: str
    event_types: list[str]
    enabled: bool
    created_at: datetime
    secret: str | None = Field(
        default=None, description="the signing secret; shown only when created or rotated"
    )


class SubscriptionList(BaseModel):
    items: list[SubscriptionOut]


class ReplayResult(BaseModel):
    replayed: int
