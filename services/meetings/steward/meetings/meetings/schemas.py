"""Request and response models of the meetings domain."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from steward.kit.inputs import Input, Name, TenantCode, Text

MeetingStatus = Literal["scheduled", "compiled", "held", "cancelled", "skipped"]
AttendanceStatus = Literal["present", "late", "leave", "deputy", "absent", "observer"]


class Participant(Input):
    subject: str | None = Field(None, max_length=200, description="the person's login subject")
    name: Name
    unit_id: str | None = Field(None, max_length=64)
    unit_name: str | None = Field(None, max_length=200)
    role: str | None = Field(None, max_length=64, description="e.g. 指挥长, 责任单位, 相关部门")


class AdHocCreate(Input):
    """临时协调会议: for urgent matters, at any time (特殊情况，可随时召开)."""

    tenant: TenantCode
    title: Name
    starts_at: datetime
    reason: Text = Field(min_length=1, description="the urgent matter it is called for")
    series_key: str | None = Field(None, max_length=64, description="attach to a series (its backlog)")
    location: str = Field("", max_length=200)
    chair_subject: str | None = Field(None, max_length=200)
    chair_name: str | None = Field(None, max_length=200)
    participants: list[Participant] = Field(default_factory=list, max_length=500)


class RescheduleIn(Input):
    starts_at: datetime
    reason: Text = Field(min_length=1)
    location: str | None = Field(None, max_length=200)


class CancelIn(Input):
    reason: Text = Field(min_length=1)


class MeetingOut(BaseModel):
    id: uuid.UUID
    tenant: str
    series_id: uuid.UUID | None
    series_key: str | None
    kind: Literal["regular", "ad_hoc"]
    seq: int
    title: str
    status: MeetingStatus
    regular_date: date | None
    starts_at: datetime
    location: str
    holiday_note: str | None
    reason: str | None
    agenda_deadline_at: datetime | None
    compile_due: date | None
    chair_subject: str | None
    chair_name: str | None
    participants: list[Participant]
    notice_sent_at: datetime | None
    compiled_at: datetime | None
    held_at: datetime | None


class MeetingList(BaseModel):
    items: list[MeetingOut]
    next_cursor: str | None = None


class AttendanceIn(Input):
    person: str = Field(min_length=1, max_length=200, description="subject or registry person id")
    name: Name
    unit_id: str | None = Field(None, max_length=64)
    unit_name: str | None = Field(None, max_length=200)
    status: AttendanceStatus
    reason: Text | None = Field(None, description="请假事由 (required for leave)")
    deputy_name: str | None = Field(None, max_length=200, description="代为参会人员 (required for deputy)")


class AttendanceBatch(Input):
    items: list[AttendanceIn] = Field(min_length=1, max_length=500)


class AttendanceOut(BaseModel):
    meeting_id: uuid.UUID
    person: str
    name: str
    unit_id: str | None
    unit_name: str | None
    status: AttendanceStatus
    reason: str | None
    deputy_name: str | None
    starts_at: datetime


class AttendanceList(BaseModel):
    items: list[AttendanceOut]
    counts: dict[str, int]


class HoldIn(Input):
    """Close the record of the meeting: it took place (attendance and decisions as recorded)."""

    held_at: datetime | None = None
