"""Events the notify service publishes about its deliveries (no contact addresses: PIPL)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from steward.events.envelope import EventData


class _DeliveryEvent(EventData):
    aggregate: ClassVar[str] = "delivery"

    delivery_id: str
    event_id: str = Field(description="id of the event that caused the notification")
    event_type: str = Field(description="short type of that event, e.g. matter.overdue")
    channel: str = Field(description="inbox | email | sms | wecom | dingtalk | feishu | webhook")
    recipient: str = Field(description="opaque recipient key: person:<id>, subscription:<id> …")
    attempts: int


class DeliverySucceeded(_DeliveryEvent):
    event: ClassVar[str] = "succeeded"
    summary: ClassVar[str] = "A notification was accepted by its channel (inbox, SMTP server, gateway …)."

    sent_at: datetime
    latency_seconds: float = Field(description="from the causing event's time to acceptance")


class DeliveryFailed(_DeliveryEvent):
    event: ClassVar[str] = "failed"
    summary: ClassVar[str] = "An attempt failed; the delivery is retried at ``next_attempt_at``."

    error: str
    next_attempt_at: datetime


class DeliveryDeadLettered(_DeliveryEvent):
    event: ClassVar[str] = "dead_lettered"
    summary: ClassVar[str] = (
        "A delivery exhausted its attempts; it is listed for admins (and the subscribing agency) "
        "and can be retried."
    )

    error: str


NOTIFY_EVENTS: tuple[type[EventData], ...] = (DeliverySucceeded, DeliveryFailed, DeliveryDeadLettered)
