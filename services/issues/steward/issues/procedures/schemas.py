"""Bodies of the procedures API (代办档案, submissions, one-time notices, completion, handover)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from steward.issues.matters.schemas import MatterOut
from steward.kit.inputs import Input
from steward.rules.base import Key


class ProcedureItem(Input):
    code: Key = Field(description="procedure code of the tenant's catalogue (rules matters.procedures)")
    level2_agent: str = Field(min_length=1, max_length=200, description="二级代办员 of the department")
    green_channel: bool | None = Field(default=None, description="default: the file's setting")


class FileCreate(Input):
    project_id: str = Field(min_length=1, max_length=64)
    level1_agent: str = Field(min_length=1, max_length=200, description="一级代办员")
    green_channel: bool = Field(default=False, description="绿色通道: promised days one third shorter")
    procedures: list[ProcedureItem] = Field(min_length=1, max_length=50)


class SubmissionIn(Input):
    materials: list[str] = Field(min_length=1, max_length=200)
    note: str = Field(default="", max_length=2000)


class NoticeIn(Input):
    items: list[str] = Field(
        min_length=1, max_length=200, description="ALL corrections, at once (一次性告知)"
    )


class DelayCause(StrEnum):
    DEPARTMENT = "department"
    ENTERPRISE = "enterprise"
    OTHER = "other"


class CompleteIn(Input):
    delay_cause: DelayCause | None = Field(default=None, description="required when completed late")
    note: str = Field(default="", max_length=2000)


class HandoverIn(Input):
    received_by: str = Field(min_length=1, max_length=200, description="企业委托人 who received the file")


class SubmissionOut(BaseModel):
    id: uuid.UUID
    matter_id: uuid.UUID
    file_id: uuid.UUID
    tenant: str
    submitted_by: str
    submitted_at: datetime
    materials: list[str]
    due_at: datetime
    status: str
    decided_at: datetime | None
    decided_by: str | None
    notice_items: list[str]
    late: bool


class SubmissionList(BaseModel):
    items: list[SubmissionOut]


class FileOut(BaseModel):
    id: uuid.UUID
    tenant: str
    project_id: str
    project_code: str
    project_name: str
    level1_agent: str
    green_channel: bool
    status: str
    created_at: datetime
    handed_over_at: datetime | None
    received_by: str | None
    procedures: list[MatterOut]
    all_done: bool
