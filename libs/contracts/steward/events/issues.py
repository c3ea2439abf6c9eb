"""Events the issues service publishes: tracked matters (obstacles 受阻问题, approval procedures 审批代办,
meeting decisions 会议督办事项, efficiency complaints 行政效能投诉) and procedure files (代办档案).

Every matter event carries the attributes notification routes filter on (``kind``, ``tier``,
``category``, ``level`` = the project's key-project level) and the handling tenant, so consumers need
no call back to the issues service. Subjects use the matter's home tenant (where it was filed):
``steward.events.<home tenant>.matter.<event>``; ``handling_tenant`` says who handles it now.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from steward.events.envelope import EventData


class _MatterEvent(EventData):
    aggregate: ClassVar[str] = "matter"

    matter_id: str
    number: str = Field(description="编号: <tenant>-<year>-<kind letter>-<seq>, unique per tenant and year")
    kind: Literal["obstacle", "procedure", "decision", "complaint"]
    category: str | None = None
    tier: Literal["unit", "district", "city", "government"]
    level: str = Field("none", description="key-project level of the project (national … district, none)")
    project_id: str | None = None
    project_code: str | None = None
    handling_tenant: str
    responsible_unit_id: str | None = None
    due_at: datetime | None = Field(None, description="exclusive deadline (00:00 after the due working day)")


class MatterFiled(_MatterEvent):
    event: ClassVar[str] = "filed"
    summary: ClassVar[str] = "A matter was filed and numbered; its deadline was fixed under the rules then."

    title: str
    reporter: str
    sla_days: int
    difficult: bool = False


class MatterAccepted(_MatterEvent):
    event: ClassVar[str] = "accepted"
    summary: ClassVar[str] = "The matter was sorted (分拣) to a responsible unit and accepted for handling."

    responsible_unit_name: str | None = None


class MatterAssigned(_MatterEvent):
    event: ClassVar[str] = "assigned"
    summary: ClassVar[str] = "A responsible unit and/or person was (re)assigned."

    responsible_unit_name: str | None = None
    responsible_person: str | None = None


class MatterStarted(_MatterEvent):
    event: ClassVar[str] = "started"
    summary: ClassVar[str] = "The responsible unit started work on the matter."


class MatterAnswered(_MatterEvent):
    event: ClassVar[str] = "answered"
    summary: ClassVar[str] = "A clear answer was given (difficult matters: within 3 working days, Huiji)."

    answer: str
    on_time: bool


class MatterReminderDue(_MatterEvent):
    event: ClassVar[str] = "reminder_due"
    summary: ClassVar[str] = (
        "催办: a deadline is near (before), today (due_day), passed (overdue), a difficult matter's "
        "answer is late (answer_overdue) or a supervision order's deadline passed (supervision_overdue)."
    )

    phase: Literal["before", "due_day", "overdue", "answer_overdue", "supervision_overdue"]
    working_days: int = Field(description="working days left (before) or overdue (overdue phases)")
    supervision_order_id: str | None = None


class MatterOverdue(_MatterEvent):
    event: ClassVar[str] = "overdue"
    summary: ClassVar[str] = "The deadline at the current tier passed unresolved (once per deadline)."

    overdue_since: datetime


class MatterEscalated(_MatterEvent):
    event: ClassVar[str] = "escalated"
    summary: ClassVar[str] = (
        "The matter moved one tier up (unit → district → city → government) along the tenant tree, "
        "automatically when overdue or by hand; ``to_meeting`` = put on the weekly meeting's agenda."
    )

    from_tier: str
    to_tier: str
    from_tenant: str
    to_tenant: str
    automatic: bool
    to_meeting: bool = False
    reason: str


class MatterSupervised(_MatterEvent):
    event: ClassVar[str] = "supervised"
    summary: ClassVar[str] = "A supervision order (督办单) with its own deadline was issued."

    order_id: str
    order_due_at: datetime
    instructions: str
    issued_by: str


class MatterPaused(_MatterEvent):
    event: ClassVar[str] = "paused"
    summary: ClassVar[str] = "The SLA clock stopped while waiting on the enterprise (e.g. materials)."

    reason: str


class MatterResumed(_MatterEvent):
    event: ClassVar[str] = "resumed"
    summary: ClassVar[str] = "The SLA clock runs again; the deadline moved by the paused working days."

    paused_working_days: int


class MatterResolved(_MatterEvent):
    event: ClassVar[str] = "resolved"
    summary: ClassVar[str] = "The responsible unit reports the matter solved."

    resolution: str
    overdue: bool
    seconds_to_resolve: int


class MatterConfirmed(_MatterEvent):
    event: ClassVar[str] = "confirmed"
    summary: ClassVar[str] = "The reporter confirmed the resolution (feedback)."


class MatterReopened(_MatterEvent):
    event: ClassVar[str] = "reopened"
    summary: ClassVar[str] = "The reporter did not accept the resolution; the matter is in progress again."

    reason: str


class MatterReturned(_MatterEvent):
    event: ClassVar[str] = "returned"
    summary: ClassVar[str] = "The matter was returned to the reporter for more information."

    reason: str


class MatterRejected(_MatterEvent):
    event: ClassVar[str] = "rejected"
    summary: ClassVar[str] = "The matter was rejected (not a matter for the platform), with the reason."

    reason: str


class MatterClosed(_MatterEvent):
    event: ClassVar[str] = "closed"
    summary: ClassVar[str] = "The matter was closed; ``overdue`` says whether any deadline was missed."

    overdue: bool
    escalations: int


class MatterRated(_MatterEvent):
    event: ClassVar[str] = "rated"
    summary: ClassVar[str] = (
        "The reporter evaluated the handling: 5 非常满意, 4 满意, 3 基本满意, 2 不满意, 1 非常不满意."
    )

    rating: int = Field(ge=1, le=5)
    rating_label: str
    comment: str = ""
    rated_by: str


class _ProcedureEvent(EventData):
    aggregate: ClassVar[str] = "procedure"

    file_id: str
    project_id: str
    project_code: str
    level: str = "none"


class ProcedureNoticeIssued(_ProcedureEvent):
    event: ClassVar[str] = "notice_issued"
    summary: ClassVar[str] = (
        "一次性告知: incomplete materials — ALL corrections listed at once; due within 1 working day "
        "of the submission; ``late`` when issued after that."
    )

    matter_id: str
    number: str
    procedure_code: str
    submission_id: str
    items: list[str]
    submitted_at: datetime
    due_at: datetime
    late: bool
    issued_by: str
    level2_agent: str | None = None


class ProcedureNoticeLate(_ProcedureEvent):
    event: ClassVar[str] = "notice_late"
    summary: ClassVar[str] = "A one-time notice (or the acceptance of complete materials) is overdue."

    matter_id: str
    number: str
    procedure_code: str
    submission_id: str
    submitted_at: datetime
    due_at: datetime
    level2_agent: str | None = None


class ProcedureCompleted(_ProcedureEvent):
    event: ClassVar[str] = "completed"
    summary: ClassVar[str] = (
        "A procedure was completed (办结). When late and caused by the department, the delay is "
        "attributed to the level-2 agent (``delay_attributed_to``)."
    )

    matter_id: str
    number: str
    procedure_code: str
    procedure_name: str
    department: str
    procedure_level: str
    difficulty: str
    green_channel: bool
    promised_days: int
    overdue: bool
    delay_cause: str | None = None
    level1_agent: str | None = None
    level2_agent: str | None = None
    delay_attributed_to: str | None = None


class ProcedureHandedOver(_ProcedureEvent):
    event: ClassVar[str] = "handed_over"
    summary: ClassVar[str] = (
        "移交: every procedure of the project's file is done and the whole file was handed to the "
        "enterprise; drives the satisfaction survey."
    )

    procedures: list[str]
    level1_agent: str | None = None
    level2_agents: list[str] = Field(default_factory=list)
    received_by: str
    owner_unit_id: str | None = None


ISSUES_EVENTS: tuple[type[EventData], ...] = (
    MatterFiled,
    MatterAccepted,
    MatterAssigned,
    MatterStarted,
    MatterAnswered,
    MatterReminderDue,
    MatterOverdue,
    MatterEscalated,
    MatterSupervised,
    MatterPaused,
    MatterResumed,
    MatterResolved,
    MatterConfirmed,
    MatterReopened,
    MatterReturned,
    MatterRejected,
    MatterClosed,
    MatterRated,
    ProcedureNoticeIssued,
    ProcedureNoticeLate,
    ProcedureCompleted,
    ProcedureHandedOver,
)
