from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from steward.kit.inputs import Input


class WeekMilestone(BaseModel):
    name: str
    planned_date: date
    actual_date: date | None


class AgentProject(BaseModel):
    project_id: uuid.UUID
    code: str
    name: str
    stage: str
    milestones: list[WeekMilestone] = Field(description="planned or reached during the week")
    note: str = ""


class WeekMatter(BaseModel):
    """A matter of the issues service the agent filed or is responsible for, active that week."""

    id: str
    number: str
    kind: str = Field(description="obstacle | procedure | decision | complaint")
    title: str
    status: str
    as_: list[Literal["reporter", "responsible"]] = Field(alias="as", description="the agent's part in it")
    project_id: str | None
    project_code: str | None
    responsible_unit_name: str | None
    filed_at: datetime
    due_date: str
    overdue: bool
    resolved_at: datetime | None

    model_config = {"populate_by_name": True}


MattersStatus = Literal["ok", "not_configured", "unavailable"]


class AgentDraftOut(BaseModel):
    person_id: uuid.UUID
    person_name: str
    period: str
    start: date
    end: date
    due_at: datetime
    shifted: bool
    shift_reason: str | None
    projects: list[AgentProject]
    matters: list[WeekMatter] = Field(
        default_factory=list, description="the agent's matters active during the week (issues service)"
    )
    matters_status: MattersStatus = Field(
        default="ok", description="not_configured / unavailable: the matters could not be pre-filled"
    )
    matters_truncated: bool = False


class ProjectNote(Input):
    project_id: uuid.UUID
    note: str = Field(default="", max_length=2000)


class AgentReportIn(Input):
    period: str = Field(pattern=r"^\d{4}-W\d{2}$", description="ISO week, e.g. 2026-W40")
    progress_text: str = Field(min_length=1, max_length=8000, description="the week's progress on procedures")
    problems_text: str = Field(default="", max_length=8000, description="problems met")
    notes: list[ProjectNote] = Field(default_factory=list, max_length=200)


class AgentReportOut(BaseModel):
    id: uuid.UUID
    person_id: uuid.UUID
    period: str
    due_at: datetime
    submitted_at: datetime
    late: bool
    delay_seconds: int
    progress_text: str
    problems_text: str
    projects: list[AgentProject]
    matters: list[WeekMatter]


class AgentStatusRow(BaseModel):
    person_id: uuid.UUID
    person_name: str
    tenant: str
    status: Literal["on_time", "late", "missing", "pending"]
    report_id: uuid.UUID | None
    delay_seconds: int


class AgentStatusOut(BaseModel):
    tenant: str
    period: str
    due_at: datetime
    items: list[AgentStatusRow]
