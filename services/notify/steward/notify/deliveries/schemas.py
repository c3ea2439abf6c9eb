from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


class AttemptOut(BaseModel):
    number: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    error: str | None


class DeliveryOut(BaseModel):
    id: uuid.UUID
    tenant: str
    event_id: str
    event_type: str
    event_time: datetime
    recipient: str
    recipient_name: str
    channel: str
    address: str
    severity: str
    title: str
    status: str
    attempts: int
    max_attempts: int
    due_at: datetime
    deferred_reason: str | None
    last_error: str | None
    sent_at: datetime | None
    dead_lettered_at: datetime | None
    created_at: datetime
    subscription_id: uuid.UUID | None = None
    history: list[AttemptOut] | None = None


class DeliveryList(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None = None
