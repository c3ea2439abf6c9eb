from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


class MessageOut(BaseModel):
    id: uuid.UUID
    tenant: str
    event_id: str
    event_type: str
    severity: str
    title: str
    body: str
    link: str | None
    project_id: str | None
    created_at: datetime
    read_at: datetime | None


class MessageList(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None = None


class UnreadCount(BaseModel):
    unread: int


class MarkedRead(BaseModel):
    marked: int
