"""Request and response models of the agenda domain (议题申报, 签字, 汇总)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from steward.kit.inputs import Input, Name, TenantCode, Text

SignOffRole = Literal["unit_head", "leader_in_charge"]
TopicStatus = Literal["submitted", "compiled", "discussed", "withdrawn"]


class TopicCreate(Input):
    """A topic for a meeting: its project, the problem, the coordination asked, the departments
    concerned; may link tracked matters of the issues service."""

    meeting_id: uuid.UUID | None = Field(None, description="the meeting it is for; or tenant + series_key")
    tenant: TenantCode | None = None
    series_key: str | None = Field(None, max_length=64)
    title: Name
    problem: Text = Field(min_length=1, description="存在的困难和问题")
    request: Text = Field(min_length=1, description="需协调解决的问题及建议")
    project_id: str | None = Field(None, max_length=64, description="registry project id or code")
    unit_id: str | None = Field(None, max_length=64, description="submitting unit (项目指挥部/责任单位/乡镇)")
    unit_name: Name
    departments: list[Name] = Field(
        default_factory=list, max_length=50, description="相关部门 to make statements"
    )
    matter_ids: list[str] = Field(default_factory=list, max_length=50)


class SignIn(Input):
    role: SignOffRole
    name: Name = Field(description="the signer's name as it appears on the agenda")
    comment: Text = ""


class UrgentIn(Input):
    """The organiser keeps a late topic on the meeting it was meant for (with the reason)."""

    reason: Text = Field(min_length=1)
    meeting_id: uuid.UUID | None = Field(None, description="default: the meeting it was submitted for")


class WithdrawIn(Input):
    reason: Text = Field(min_length=1)


class SignOffOut(BaseModel):
    role: SignOffRole
    subject: str
    name: str
    unit_id: str | None
    comment: str
    signed_at: datetime


class TopicOut(BaseModel):
    id: uuid.UUID
    tenant: str
    series_id: uuid.UUID | None
    meeting_id: uuid.UUID
    requested_meeting_id: uuid.UUID
    title: str
    problem: str
    request: str
    project_id: str | None
    project_name: str | None
    unit_id: str | None
    unit_name: str
    departments: list[str]
    matter_ids: list[str]
    submitter: str
    status: TopicStatus
    source: Literal["submitted", "escalated"]
    late: bool
    urgent: bool
    urgent_reason: str | None
    deferrals: int
    position: int | None
    submitted_at: datetime
    signoffs: list[SignOffOut]
    missing_signoffs: list[SignOffRole]


class TopicList(BaseModel):
    items: list[TopicOut]
    next_cursor: str | None = None


class AgendaOut(BaseModel):
    meeting_id: uuid.UUID
    version: int
    compiled_at: datetime
    compiled_by: str
    document: dict[str, Any] = Field(description="parts in the series' fixed order")
