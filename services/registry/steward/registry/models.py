"""Every table of the registry (imported so SQLModel's metadata knows them all, e.g. for Alembic)."""

from steward.kit.audit import AuditEntry
from steward.kit.dedup import ConsumedEvent
from steward.kit.outbox import OutboxEvent
from steward.kit.timers import DueTimer
from steward.registry.agentreports.models import AgentReport, AgentReportNotice
from steward.registry.circulars.models import Circular
from steward.registry.inbound.models import InboundMessage, MonthlyInvestment, ProjectStatistics
from steward.registry.milestones.models import Milestone
from steward.registry.nodeplans.models import NodePlanChange
from steward.registry.projects.models import Project, ProjectCodeCounter, StageChange
from steward.registry.reports.models import ProgressReport, ReportCorrection, ReportNotice
from steward.registry.returnvisits.models import ReturnVisit
from steward.registry.rosters.models import Assignment
from steward.registry.rules.models import RulesVersion
from steward.registry.servicelog.models import ComplianceNotice, ServiceLogEntry
from steward.registry.tenants.models import Tenant
from steward.registry.units.models import Person, Unit

__all__ = [
    "AgentReport",
    "AgentReportNotice",
    "Assignment",
    "AuditEntry",
    "Circular",
    "ComplianceNotice",
    "ConsumedEvent",
    "DueTimer",
    "InboundMessage",
    "Milestone",
    "MonthlyInvestment",
    "NodePlanChange",
    "OutboxEvent",
    "Person",
    "ProgressReport",
    "Project",
    "ProjectCodeCounter",
    "ProjectStatistics",
    "ReportCorrection",
    "ReportNotice",
    "ReturnVisit",
    "RulesVersion",
    "ServiceLogEntry",
    "StageChange",
    "Tenant",
    "Unit",
]
