from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from steward.kit.inputs import Input

EntryStatus = Literal["submitted", "approved", "returned"]


class Participant(Input):
    name: str = Field(min_length=1, max_length=100)
    person_id: uuid.UUID | None = None
    role_key: str | None = Field(
        default=None, max_length=64, description="Roster role the participant visited in (leader, hq …)"
    )
    unit: str = Field(default="", max_length=200)


class EntryIn(Input):
    project: str = Field(description="Project id or lifetime code")
    visited_at: datetime = Field(description="When the visit/service took place (tz-aware)")
    kind: Literal["visit", "meeting", "phone", "online", "service", "field_review", "observation"] = Field(
        "visit", description="field_review = half-year 拉练, observation = 观摩 (seed 001 (八))"
    )
    on_site: bool = Field(True, description="On-site at the project (一线现场办公)")
    place: str = Field(default="", max_length=300)
    participants: list[Participant] = Field(default_factory=list, max_length=100)
    problems_solved: str = Field(default="", max_length=5000)
    matter_ids: list[str] = Field(default_factory=list, max_length=100)

    @field_validator("visited_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("visited_at needs a time zone (e.g. +08:00)")
        return value


class EntryEdit(Input):
    place: str | None = Field(default=None, max_length=300)
    participants: list[Participant] | None = Field(default=None, max_length=100)
    problems_solved: str | None = Field(default=None, max_length=5000)
    on_site: bool | None = None


class ReturnIn(Input):
    reason: str = Field(min_length=1, max_length=1000)


class EntryOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    project_code: str
    tenant: str
    kind: str
    on_site: bool
    visited_at: datetime
    place: str
    participants: list[Participant]
    problems_solved: str
    matter_ids: list[str]
    status: EntryStatus
    submitted_by: str
    submitted_at: datetime
    reviewed_by: str | None
    reviewed_at: datetime | None
    return_reason: str | None
    counts: bool = Field(
        description="Whether it counts for visit rules now (approved, or no approval needed)"
    )
    row_version: int


class EntryList(BaseModel):
    items: list[EntryOut]


class ComplianceRow(BaseModel):
    project_id: uuid.UUID
    project_code: str
    project_name: str
    tenant: str
    role: str
    per: str
    period: str
    required: int
    counted: int
    met: bool
    description_zh: str | None


class ComplianceOut(BaseModel):
    tenant: str
    period: str
    items: list[ComplianceRow]
