"""Every table of the issues service (imported so SQLModel's metadata knows them all, e.g. for Alembic)."""

from steward.issues.inbound.models import InboundMessage
from steward.issues.matters.models import Matter, MatterHistory, MatterNumberCounter
from steward.issues.procedures.models import ProcedureFile, Submission
from steward.issues.supervision.models import SupervisionOrder
from steward.kit.audit import AuditEntry
from steward.kit.dedup import ConsumedEvent
from steward.kit.outbox import OutboxEvent
from steward.kit.timers import DueTimer

__all__ = [
    "AuditEntry",
    "ConsumedEvent",
    "DueTimer",
    "InboundMessage",
    "Matter",
    "MatterHistory",
    "MatterNumberCounter",
    "OutboxEvent",
    "ProcedureFile",
    "Submission",
    "SupervisionOrder",
]
