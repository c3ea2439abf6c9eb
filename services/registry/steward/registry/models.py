"""Every table of the registry (imported so SQLModel's metadata knows them all, e.g. for Alembic)."""

from steward.kit.audit import AuditEntry
from steward.kit.inbox import InboxEntry
from steward.kit.outbox import OutboxEvent
from steward.kit.timers import DueTimer
from steward.registry.milestones.models import Milestone
from steward.registry.projects.models import Project, ProjectCodeCounter, StageChange
from steward.registry.reports.models import ProgressReport, ReportCorrection, ReportNotice
from steward.registry.rosters.models import Assignment
from steward.registry.rules.models import RulesVersion
from steward.registry.servicelog.models import ComplianceNotice, ServiceLogEntry
from steward.registry.tenants.models import Tenant
from steward.registry.units.models import Person, Unit

__all__ = [
    "Assignment",
    "AuditEntry",
    "ComplianceNotice",
    "DueTimer",
    "InboxEntry",
    "Milestone",
    "OutboxEvent",
    "Person",
    "ProgressReport",
    "Project",
    "ProjectCodeCounter",
    "ReportCorrection",
    "ReportNotice",
    "RulesVersion",
    "ServiceLogEntry",
    "StageChange",
    "Tenant",
    "Unit",
]
