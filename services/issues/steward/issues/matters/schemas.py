"""Request and response bodies of the matters API (never table models)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, field_validator

from steward.kit.inputs import TENANT_PATTERN, Input


class Kind(StrEnum):
    OBSTACLE = "obstacle"  # 受阻问题
    PROCEDURE = "procedure"  # 审批代办
    DECISION = "decision"  # 会议督办事项
    COMPLAINT = "complaint"  # 行政效能投诉

    @property
    def letter(self) -> str:
        return {"obstacle": "Z", "procedure": "B", "decision": "H", "complaint": "T"}[self.value]


class Tier(StrEnum):
    UNIT = "unit"
    DISTRICT = "district"
    CITY = "city"
    GOVERNMENT = "government"


class Status(StrEnum):
    FILED = "filed"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    RETURNED = "returned"
    RESOLVED = "resolved"
    CONFIRMED = "confirmed"
    CLOSED = "closed"
    REJECTED = "rejected"


RATING_LABELS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}


class Attachment(Input):
    name: str = Field(min_length=1, max_length=200)
    ref: str = Field(min_length=1, max_length=500, description="URL or object-store key")


class DecisionDetails(Input):
    meeting_id: str = Field(min_length=1, max_length=64)
    decision_id: str | None = Field(default=None, max_length=64)


class ComplaintDetails(Input):
    against_unit: str = Field(min_length=1, max_length=200, description="the unit complained about")
    behaviour: str = Field(default="推诿扯皮", max_length=100)


class MatterCreate(Input):
    kind: Kind
    project_id: str | None = Field(default=None, max_length=64, description="project UUID or lifetime code")
    tenant: str | None = Field(
        default=None, pattern=TENANT_PATTERN, description="home tenant; default: the project's tenant"
    )
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10000)
    category: str | None = Field(default=None, max_length=64)
    sub_item: str | None = Field(default=None, max_length=64)
    tier: Tier | None = Field(default=None, description="default: the category's tier (obstacles) or unit")
    difficult: bool = Field(default=False, description="疑难事宜: a clear answer within 3 working days")
    responsible_unit_id: str | None = Field(default=None, max_length=36)
    responsible_unit_name: str | None = Field(default=None, max_length=200)
    responsible_person: str | None = Field(default=None, max_length=200)
    due_date: date | None = Field(default=None, description="decisions only: the deadline set by the meeting")
    decision: DecisionDetails | None = None
    complaint: ComplaintDetails | None = None
    attachments: list[Attachment] = Field(default_factory=list, max_length=50)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)


class Reason(Input):
    reason: str = Field(min_length=1, max_length=2000)


class AcceptIn(Input):
    responsible_unit_id: str | None = Field(default=None, max_length=36)
    responsible_unit_name: str = Field(min_length=1, max_length=200)
    responsible_person: str | None = Field(default=None, max_length=200)
    note: str = Field(default="", max_length=2000)


class AssignIn(Input):
    responsible_unit_id: str | None = Field(default=None, max_length=36)
    responsible_unit_name: str | None = Field(default=None, min_length=1, max_length=200)
    responsible_person: str | None = Field(default=None, max_length=200)
    note: str = Field(default="", max_length=2000)


class TextIn(Input):
    text: str = Field(min_length=1, max_length=10000)


class NoteIn(Input):
    note: str = Field(default="", max_length=2000)


class CloseIn(Input):
    rating: int | None = Field(default=None, ge=1, le=5, description="5 非常满意 … 1 非常不满意")
    comment: str = Field(default="", max_length=2000)


class RateIn(Input):
    rating: int = Field(ge=1, le=5, description="5 非常满意, 4 满意, 3 基本满意, 2 不满意, 1 非常不满意")
    comment: str = Field(default="", max_length=2000)


class EscalateIn(Input):
    to: str = Field(default="next_tier", pattern="^(next_tier|meeting)$")
    reason: str = Field(min_length=1, max_length=2000)


class MatterOut(BaseModel):
    id: uuid.UUID
    number: str
    tenant: str
    handling_tenant: str
    kind: Kind
    status: Status
    tier: Tier
    category: str | None
    category_zh: str | None = None
    sub_item: str | None
    title: str
    description: str
    project_id: str | None
    project_code: str | None
    project_name: str | None
    reporter: str
    responsible_unit_id: str | None
    responsible_unit_name: str | None
    responsible_person: str | None
    difficult: bool
    filed_at: datetime
    sla_days: int
    due_at: datetime = Field(description="exclusive: 00:00 Asia/Shanghai after the due working day")
    due_date: date = Field(description="the due working day")
    answer_due_at: datetime | None
    answered_at: datetime | None
    paused: bool
    paused_working_days: int
    overdue: bool
    ever_overdue: bool
    escalations: int
    on_meeting_agenda: bool
    accepted_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    resolution: str | None
    rating: int | None
    rating_label: str | None
    details: dict[str, Any]
    attachments: list[Attachment]
    row_version: int


class MatterList(BaseModel):
    items: list[MatterOut]
    next_cursor: str | None


class HistoryItem(BaseModel):
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    reason: str
    data: dict[str, Any]


class Timeline(BaseModel):
    matter_id: uuid.UUID
    number: str
    items: list[HistoryItem]


class MatterFilter(BaseModel):
    tenant: str | None = None
    kinds: list[Kind] = Field(default_factory=list)
    statuses: list[Status] = Field(default_factory=list)
    tiers: list[Tier] = Field(default_factory=list)
    category: str | None = None
    project_id: str | None = None
    responsible_unit_id: str | None = None
    handling_tenant: str | None = None
    meeting_id: str | None = None
    overdue: bool | None = None
    open_only: bool = False
    q: str | None = None

    @field_validator("q")
    @classmethod
    def _q(cls, v: str | None) -> str | None:
        return v.strip() or None if v else None
