"""Registry events of the offices' routines the seeds describe: circulars (情况通报), agents' weekly
reports (代办员周报), return visits (回访), the service log (服务台账) and node-plan change requests.

Listed in :data:`steward.events.registry.REGISTRY_EVENTS` (the registry publishes them)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from steward.events.envelope import EventData


class CircularIssued(EventData):
    aggregate: ClassVar[str] = "circular"
    event: ClassVar[str] = "issued"
    summary: ClassVar[str] = (
        "The DRC issued a circular (情况通报) for a semi-monthly period; the projects that reported "
        "late or not at all are named in it (for notify: the leadership and those criticised)."
    )

    circular_id: str
    tenant: str
    period: str
    schedule_key: str
    number: int = Field(description="第N期 within the tenant's year")
    title: str
    late_projects: list[str] = Field(default_factory=list, description="codes of projects reported late")
    missing_projects: list[str] = Field(default_factory=list, description="codes of projects not reported")


class AgentReportSubmitted(EventData):
    aggregate: ClassVar[str] = "agent_report"
    event: ClassVar[str] = "submitted"
    summary: ClassVar[str] = (
        "An agent (代办员) submitted the weekly work report; ``late`` when after the due time."
    )

    report_id: str
    person_id: str
    person_name: str
    period: str
    due_at: datetime
    late: bool
    delay_seconds: int = 0


class AgentReportOverdue(EventData):
    aggregate: ClassVar[str] = "agent_report"
    event: ClassVar[str] = "overdue"
    summary: ClassVar[str] = (
        "An agent's weekly work report was not in at its due time (once per agent and week)."
    )

    person_id: str
    person_name: str
    period: str
    due_at: datetime


class ReturnVisitRecorded(EventData):
    aggregate: ClassVar[str] = "return_visit"
    event: ClassVar[str] = "recorded"
    summary: ClassVar[str] = (
        "The service room called an enterprise back about a service record (回访) and recorded its "
        "answer and satisfaction."
    )

    return_visit_id: str
    entry_id: str
    project_id: str
    month: str
    satisfaction: str
    specialist: str = Field(description="login subject of who logged the service record")


class VisitLogged(EventData):
    aggregate: ClassVar[str] = "visit"
    event: ClassVar[str] = "logged"
    summary: ClassVar[str] = "A service-log (服务台账) entry was submitted for review."

    entry_id: str
    project_id: str
    code: str
    visited_at: datetime
    on_site: bool


class VisitApproved(EventData):
    aggregate: ClassVar[str] = "visit"
    event: ClassVar[str] = "approved"
    summary: ClassVar[str] = "A service-log entry was approved by the business-environment bureau (营商局)."

    entry_id: str
    project_id: str
    code: str
    approved_by: str


class VisitReturned(EventData):
    aggregate: ClassVar[str] = "visit"
    event: ClassVar[str] = "returned"
    summary: ClassVar[str] = "A service-log entry was returned to its author with a reason."

    entry_id: str
    project_id: str
    code: str
    returned_by: str
    reason: str


class VisitComplianceMissed(EventData):
    aggregate: ClassVar[str] = "visit"
    event: ClassVar[str] = "compliance_missed"
    summary: ClassVar[str] = (
        "A visit rule (e.g. leader visits monthly, HQ on site twice a week) was not met for a project in "
        "a period. Published once per project, role and period."
    )

    project_id: str
    code: str
    role: str
    per: str
    period: str
    required: int
    counted: int


class NodePlanChangeRequested(EventData):
    aggregate: ClassVar[str] = "node_plan_change"
    event: ClassVar[str] = "requested"
    summary: ClassVar[str] = (
        "A project's owner proposed new planned dates for network-plan nodes; they take effect only "
        "when the lead department (牵头单位) approves (for notify: the lead department)."
    )

    change_id: str
    project_id: str
    code: str
    requested_by: str
    reason: str
    dates: dict[str, list[str]] = Field(description="node key -> [current planned date, proposed date]")
    approver_unit_ids: list[str] = Field(description="the lead department's unit(s) that may approve")


class NodePlanChangeApproved(EventData):
    aggregate: ClassVar[str] = "node_plan_change"
    event: ClassVar[str] = "approved"
    summary: ClassVar[str] = (
        "The lead department approved a node-plan change: the proposed dates took effect and the "
        "successors were pushed; ``moved`` lists every node whose planned finish changed."
    )

    change_id: str
    project_id: str
    code: str
    approved_by: str
    moved: dict[str, list[str]] = Field(description="node key -> [old planned date, new planned date]")


class NodePlanChangeRejected(EventData):
    aggregate: ClassVar[str] = "node_plan_change"
    event: ClassVar[str] = "rejected"
    summary: ClassVar[str] = "The lead department rejected a node-plan change, with a reason; nothing moved."

    change_id: str
    project_id: str
    code: str
    rejected_by: str
    reason: str
