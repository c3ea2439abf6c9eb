"""Every table of the registry (imported so SQLModel's metadata knows them all, e.g. for Alembic)."""

from steward.kit.audit import AuditEntry
from steward.kit.inbox import InboxEntry
from steward.kit.outbox import OutboxEvent
from steward.kit.timers import DueTimer
from steward.registry.projects.models import Project, ProjectCodeCounter, StageChange
from steward.registry.rosters.models import Assignment
from steward.registry.rules.models import RulesVersion
from steward.registry.tenants.models import Tenant
from steward.registry.units.models import Person, Unit

__all__ = [
    "Assignment",
    "AuditEntry",
    "DueTimer",
    "InboxEntry",
    "OutboxEvent",
    "Person",
    "Project",
    "ProjectCodeCounter",
    "RulesVersion",
    "StageChange",
    "Tenant",
    "Unit",
]
