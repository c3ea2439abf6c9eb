"""What a channel sender gets (an :class:`Outgoing` copy of a claimed delivery) and raises."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any


class ChannelError(Exception):
    """The channel did not accept the message. ``permanent`` skips the remaining retries."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Outgoing:
    delivery_id: uuid.UUID
    attempt_id: uuid.UUID
    event_id: str
    event_type: str
    tenant: str
    channel: str
    address: str
    recipient_name: str
    title: str
    body: str
    payload: dict[str, Any] = field(default_factory=dict)
    secret: str | None = None

    @property
    def idempotency_key(self) -> str:
        """Stable across attempts of one delivery: receivers deduplicate on it."""
        return str(self.delivery_id)
