"""What a channel sender gets (an :class:`Outgoing` copy of a claimed delivery) and raises."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any


class ChannelError(Exception):
    """The channel did not accept the message. ``permanent`` skips the remaining retries."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class LeaseLost(Exception):
    """Not sent: the claim's lease could run out before the channel answers, and another attempt
    may take the row meanwhile — sending now could deliver the message twice."""


class Lease:
    """Until when (monotonic clock) the worker holds a claimed delivery. The worker's heartbeat
    extends it; a sender checks it right before it hands a message over — after any queueing of
    its own, such as waiting for the one SMTP connection."""

    def __init__(self, until: float) -> None:
        self.until = until

    def remaining(self) -> float:
        return self.until - time.monotonic()

    def check(self, time_limit: float) -> None:
        """Raise :class:`LeaseLost` unless a send of up to ``time_limit`` seconds ends in the lease."""
        if self.remaining() < time_limit:
            raise LeaseLost(f"lease has {self.remaining():.2f}s left, a send may take {time_limit:.2f}s")


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
