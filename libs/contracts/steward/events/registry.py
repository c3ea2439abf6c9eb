"""Events the registry publishes (bodies of CloudEvents; see :mod:`steward.events.envelope`)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from steward.events.envelope import EventData
from steward.events.registry_office import (
    AgentReportOverdue,
    AgentReportSubmitted,
    CircularIssued,
    NodePlanChangeApproved,
    NodePlanChangeRejected,
    NodePlanChangeRequested,
    ReturnVisitRecorded,
    VisitApproved,
    VisitComplianceMissed,
    VisitLogged,
    VisitReturned,
)


class TenantCreated(EventData):
    aggregate: ClassVar[str] = "tenant"
    event: ClassVar[str] = "created"
    summary: ClassVar[str] = "A tenant (district, zone, township …) joined the tree."

    code: str
    name: str
    kind: str
    parent: str | None


class RulesUpdated(EventData):
    aggregate: ClassVar[str] = "rules"
    event: ClassVar[str] = "updated"
    summary: ClassVar[str] = (
        "A tenant's rules changed (a new version was stored, or a stored version took effect). "
        "Services refresh cached effective rules of this tenant and its subtree."
    )

    tenant: str
    version: int
    effective_from: datetime
    changed_paths: list[str] = Field(default_factory=list)
    took_effect: bool = False


class UnitCreated(EventData):
    aggregate: ClassVar[str] = "unit"
    event: ClassVar[str] = "created"
    summary: ClassVar[str] = "A department, enterprise, zone committee or township unit was registered."

    unit_id: str
    name: str
    kind: str


class ProjectRegistered(EventData):
    aggregate: ClassVar[str] = "project"
    event: ClassVar[str] = "registered"
    summary: ClassVar[str] = "A project was registered and got its lifetime code and derived dispatch."

    project_id: str
    code: str
    national_code: str | None = Field(default=None, description="全国投资项目代码 when known")
    name: str
    owner_unit_id: str | None
    total_investment: str = Field(description="Exact decimal yuan")
    funding_type: str
    key_level: str
    stage: str
    tier: str
    on_platform: bool
    steward_required: bool
    named_responsibility: bool
    # what a project's warning light starts from (scoring reads them here, not by asking the registry)
    planned_start: str | None = Field(default=None, description="计划开工 (ISO date) when known")
    planned_completion: str | None = Field(default=None, description="计划竣工 (ISO date) when known")
    annual_plan_investment: str | None = Field(
        default=None, description="年度计划投资, exact decimal yuan, when known"
    )


class ProjectUpdated(EventData):
    aggregate: ClassVar[str] = "project"
    event: ClassVar[str] = "updated"
    summary: ClassVar[str] = "Project attributes changed; ``changes`` maps each field to [old, new]."

    project_id: str
    code: str
    changes: dict[str, list[object]]


class ProjectStageChanged(EventData):
    aggregate: ClassVar[str] = "project"
    event: ClassVar[str] = "stage_changed"
    summary: ClassVar[str] = "A project moved through its lifecycle (who, when and why are recorded)."

    project_id: str
    code: str
    from_stage: str
    to_stage: str
    reason: str


class RosterAssigned(EventData):
    aggregate: ClassVar[str] = "roster"
    event: ClassVar[str] = "assigned"
    summary: ClassVar[str] = "A person was named to a role of a project's responsibility roster."

    project_id: str
    code: str
    assignment_id: str
    role_key: str
    person_id: str


class RosterUnassigned(EventData):
    aggregate: ClassVar[str] = "roster"
    event: ClassVar[str] = "unassigned"
    summary: ClassVar[str] = "A roster assignment ended."

    project_id: str
    code: str
    assignment_id: str
    role_key: str
    person_id: str


class RosterRoleMissing(EventData):
    aggregate: ClassVar[str] = "roster"
    event: ClassVar[str] = "role_missing"
    summary: ClassVar[str] = "A project lacks a role its tenant's roster template requires."

    project_id: str
    code: str
    missing_roles: list[str]


class ReportSubmitted(EventData):
    aggregate: ClassVar[str] = "report"
    event: ClassVar[str] = "submitted"
    summary: ClassVar[str] = (
        "A progress report was submitted for a project and period; ``late`` with ``delay_seconds`` when "
        "it came after the due time."
    )

    report_id: str
    project_id: str
    code: str
    schedule_key: str
    period: str = Field(description="Period key: 2026-W47, 2026-11-H2 or 2026-11")
    due_at: datetime
    submitted_at: datetime
    late: bool
    delay_seconds: int = 0
    investment_period: str = Field(description="Exact decimal yuan completed in the period")
    investment_cumulative: str = Field(description="Exact decimal yuan completed so far")


class ReportCorrected(EventData):
    aggregate: ClassVar[str] = "report"
    event: ClassVar[str] = "corrected"
    summary: ClassVar[str] = "A submitted report was corrected; ``changes`` maps each field to [old, new]."

    report_id: str
    project_id: str
    code: str
    schedule_key: str
    period: str
    reason: str
    changes: dict[str, list[object]]


class ReportSignedOff(EventData):
    aggregate: ClassVar[str] = "report"
    event: ClassVar[str] = "signed_off"
    summary: ClassVar[str] = (
        "The responsible leader signed a report (Anyang: paper copy signed by the 指挥长)."
    )

    report_id: str
    project_id: str
    code: str
    period: str
    signed_by: str
    paper: bool


class ReportDueSoon(EventData):
    aggregate: ClassVar[str] = "report"
    event: ClassVar[str] = "due_soon"
    summary: ClassVar[str] = "A project's report for a period is due soon and not yet submitted (reminder)."

    project_id: str
    code: str
    schedule_key: str
    period: str
    due_at: datetime
    working_days_before: int


class ReportOverdue(EventData):
    aggregate: ClassVar[str] = "report"
    event: ClassVar[str] = "overdue"
    summary: ClassVar[str] = (
        "A project's report for a period was not submitted by its due time. Published once per project, "
        "schedule and period."
    )

    project_id: str
    code: str
    schedule_key: str
    period: str
    due_at: datetime


class MilestoneDelayed(EventData):
    aggregate: ClassVar[str] = "milestone"
    event: ClassVar[str] = "delayed"
    summary: ClassVar[str] = (
        "A network-plan (挂图作战) milestone passed its planned date without being reached."
    )

    milestone_id: str
    project_id: str
    code: str
    name: str
    planned_date: str
    owner_unit_id: str | None = None


class MilestoneReached(EventData):
    aggregate: ClassVar[str] = "milestone"
    event: ClassVar[str] = "reached"
    summary: ClassVar[str] = "A network-plan milestone was reached (actual date recorded)."

    milestone_id: str
    project_id: str
    code: str
    name: str
    planned_date: str
    actual_date: str
    days_late: int = 0


class NodePlanApplied(EventData):
    aggregate: ClassVar[str] = "node_plan"
    event: ClassVar[str] = "applied"
    summary: ClassVar[str] = (
        "A node-plan template was applied to a project: its network-plan milestones were generated "
        "with planned dates computed on working days."
    )

    project_id: str
    code: str
    template: str
    start: str = Field(description="ISO date the plan starts from")
    nodes: int
    planned_completion: str = Field(description="ISO date of the last node's planned finish")


class MilestonesShifted(EventData):
    aggregate: ClassVar[str] = "milestone"
    event: ClassVar[str] = "shifted"
    summary: ClassVar[str] = (
        "A network-plan node was delayed and its successors' planned dates were pushed; ``moved`` "
        "lists every node whose dates changed, [old, new] planned finish."
    )

    project_id: str
    code: str
    milestone_id: str
    key: str | None
    reason: str
    moved: dict[str, list[str]] = Field(description="node key -> [old planned date, new planned date]")


class PlatformClockChanged(EventData):
    aggregate: ClassVar[str] = "platform"
    event: ClassVar[str] = "clock_changed"
    summary: ClassVar[str] = (
        "Dev mode only: the platform clock was moved (steward dev clock). Every service runs "
        "offset_seconds ahead of the wall clock from now on; never emitted outside dev mode."
    )

    offset_seconds: float = Field(ge=0, description="How far ahead of the wall clock every service runs")
    previous_offset_seconds: float = Field(ge=0)
    platform_time: datetime = Field(description="The platform's new 'now' when the change was made")


REGISTRY_EVENTS: tuple[type[EventData], ...] = (
    TenantCreated,
    RulesUpdated,
    UnitCreated,
    ProjectRegistered,
    ProjectUpdated,
    ProjectStageChanged,
    RosterAssigned,
    RosterUnassigned,
    RosterRoleMissing,
    ReportSubmitted,
    ReportCorrected,
    ReportSignedOff,
    ReportDueSoon,
    ReportOverdue,
    MilestoneDelayed,
    MilestoneReached,
    NodePlanApplied,
    MilestonesShifted,
    NodePlanChangeRequested,
    NodePlanChangeApproved,
    NodePlanChangeRejected,
    CircularIssued,
    AgentReportSubmitted,
    AgentReportOverdue,
    ReturnVisitRecorded,
    VisitLogged,
    VisitApproved,
    VisitReturned,
    VisitComplianceMissed,
    PlatformClockChanged,
)
