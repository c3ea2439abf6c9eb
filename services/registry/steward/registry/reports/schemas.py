from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from steward.kit.inputs import Input
from steward.kit.money import Money

ReportStatus = Literal["on_time", "late", "missing", "pending"]


class PeriodOut(BaseModel):
    schedule_key: str
    kind: str
    period: str
    start: date
    end: date
    nominal_due: date
    due_date: date
    due_at: datetime
    shifted: bool
    shift_reason: str | None
    summary_date: date | None
    calendar: dict[str, str] = Field(description="year → official | overrides | fallback")
    calendar_fallback: bool


class ScheduleOut(BaseModel):
    key: str
    name_zh: str
    kind: str
    weekday: int | None
    days: list[int] | None
    day: int | None
    due_time: str
    holiday_shift: str
    summary_offset_days: int | None
    paper_signoff_required: bool
    paper_signoff_role: str | None
    applies_when: dict[str, Any]
    periods: list[PeriodOut]


class SchedulesOut(BaseModel):
    tenant: str
    window: tuple[date, date]
    schedules: list[ScheduleOut]
    calendar_fallback: bool
    fallback_years: list[int]


class MilestoneUpdate(Input):
    milestone_id: uuid.UUID
    actual_date: date


class ReportIn(Input):
    project: str = Field(description="Project id or lifetime code")
    schedule_key: str
    period: str = Field(description="2026-W47 | 2026-11-H2 | 2026-11")
    investment_period: Money = Field(description="Investment completed in this period (yuan, exact)")
    investment_cumulative: Money = Field(description="Investment completed so far (yuan, exact)")
    progress_text: str = Field(default="", max_length=5000, description="形象进度")
    problems_text: str = Field(default="", max_length=5000)
    milestone_updates: list[MilestoneUpdate] = Field(default_factory=list, max_length=100)
    obstacle_ids: list[str] = Field(
        default_factory=list, max_length=100, description="Open obstacles (matter ids of the issues service)"
    )
    correction_reason: str | None = Field(
        default=None, max_length=1000, description="Needed when the cumulative figure goes down"
    )

    @field_validator("obstacle_ids")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        out: list[str] = []
        for v in value:
            v = v.strip()
            if not v or len(v) > 64:
                raise ValueError("obstacle ids are non-empty strings of at most 64 characters")
            if v not in out:
                out.append(v)
        return out


class CorrectionIn(Input):
    investment_period: Money | None = None
    investment_cumulative: Money | None = None
    progress_text: str | None = Field(default=None, max_length=5000)
    reason: str = Field(min_length=1, max_length=1000)


class SignoffIn(Input):
    paper: bool = Field(default=True, description="The paper copy was signed (Anyang: by the 指挥长)")


class SignoffOut(BaseModel):
    required: bool
    role: str | None
    signed_by: str | None
    signed_at: datetime | None
    paper: bool


class ReportOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    project_code: str
    tenant: str
    schedule_key: str
    period: str
    due_at: datetime
    submitted_at: datetime
    submitted_by: str
    status: ReportStatus
    delay_seconds: int
    delay: str = Field(description="How late, e.g. '2d 3h 5m' ('' when on time)")
    investment_period: Money
    investment_cumulative: Money
    progress_text: str
    problems_text: str
    milestone_updates: list[dict[str, Any]]
    obstacle_ids: list[str]
    signoff: SignoffOut
    row_version: int


class ReportList(BaseModel):
    items: list[ReportOut]
    next_cursor: str | None = None


class CorrectionOut(BaseModel):
    id: uuid.UUID
    changes: dict[str, Any]
    reason: str
    actor: str
    at: datetime


class StatusRow(BaseModel):
    project_id: uuid.UUID
    project_code: str
    project_name: str
    tenant: str
    stage: str
    schedule_key: str
    period: str
    due_at: datetime
    status: ReportStatus
    delay_seconds: int
    report_id: uuid.UUID | None
    investment_period: Money | None
    investment_cumulative: Money | None
    investment_ytd: Money = Field(description="Investment completed this year up to this period")
    annual_plan_investment: Money | None
    signoff_missing: bool


class StatusOut(BaseModel):
    tenant: str
    period: str
    items: list[StatusRow]
