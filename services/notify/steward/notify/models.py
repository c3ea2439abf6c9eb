"""Every table of notify (imported so SQLModel's metadata knows them all, e.g. for Alembic)."""

from steward.kit.audit import AuditEntry
from steward.kit.dedup import ConsumedEvent
from steward.kit.outbox import OutboxEvent
from steward.kit.timers import DueTimer
from steward.notify.channels.models import ChannelEndpoint
from steward.notify.deliveries.models import Delivery, DeliveryAttempt
from steward.notify.inbox.models import InboxMessage
from steward.notify.preferences.models import Preference
from steward.notify.subscriptions.models import AgencySubscription
from steward.notify.templates.models import TemplateOverride

__all__ = [
    "AgencySubscription",
    "AuditEntry",
    "ChannelEndpoint",
    "ConsumedEvent",
    "Delivery",
    "DeliveryAttempt",
    "DueTimer",
    "InboxMessage",
    "OutboxEvent",
    "Preference",
    "TemplateOverride",
]
