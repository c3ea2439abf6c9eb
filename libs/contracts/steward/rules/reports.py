"""Section ``reports``: progress report schedules — weekly (Huiji: Friday 18:00), semi-monthly
(Anyang: 12th and 25th, moved earlier on holidays, summary the next day, paper copy signed by the
commander), monthly (Jinniu: by the 25th). Due dates are computed by the registry with the working-day
calendar; these models only describe the rule."""

from __future__ import annotations

from datetime import time
from typing import Literal

from pydantic import Field, model_validator

from steward.rules.base import Applicability, Key, StrictModel, TimeOfDay, Weekday

__all__ = ["HolidayShift", "ReportContent", "ReportKind", "ReportSchedule", "ReportsSection"]

ReportKind = Literal["weekly", "semi_monthly", "monthly"]
HolidayShift = Literal["earlier", "later", "none"]
ReportContent = Literal[
    "investment_period",  # 本期完成投资
    "investment_cumulative",  # 累计完成投资
    "progress_text",  # 形象进度
    "milestones",  # 网络计划节点（挂图作战）计划与实际
    "problems",  # 存在问题
    "evidence",  # 印证材料 (Jinniu: 帮代办服务印证材料)
]
Day = int


_DEFAULT_CONTENTS: tuple[ReportContent, ...] = (
    "investment_period",
    "investment_cumulative",
    "progress_text",
    "milestones",
)


class ReportSchedule(StrictModel):
    key: Key
    name_zh: str = Field(min_length=1)
    kind: ReportKind
    weekday: Weekday | None = Field(None, description="weekly: Python weekday, Friday=4")
    days: list[Day] | None = Field(None, description="semi_monthly: days of month, e.g. [12, 25]")
    day: Day | None = Field(None, description="monthly: day of month; past month end → last day")
    due_time: TimeOfDay = time(18, 0)
    holiday_shift: HolidayShift = Field(
        "earlier",
        description="due day on a holiday/rest day moves to the previous (earlier) or next working day",
    )
    summary_offset_days: int | None = Field(
        None,
        ge=0,
        le=10,
        description="the tenant's summary/通报 is due this many calendar days after (Anyang: 1)",
    )
    applies_when: Applicability = Field(default_factory=Applicability)
    paper_signoff_required: bool = False
    paper_signoff_role: Key | None = Field(
        None, description="roster role that signs the paper copy (commander)"
    )
    contents: list[ReportContent] = Field(default_factory=lambda: list(_DEFAULT_CONTENTS))
    reminder_working_days_before: list[int] = Field(
        default_factory=lambda: [1, 0],
        description="reminders N working days before the due day (0 = that day)",
    )
    reminder_time: TimeOfDay = time(9, 0)
    late_notice: bool = Field(True, description="a late or missing report is published (and criticised)")

    @model_validator(mode="after")
    def _shape(self) -> ReportSchedule:
        def bad(msg: str) -> ValueError:
            return ValueError(f"{self.kind} schedule {self.key!r}: {msg}")

        if self.kind == "weekly":
            if self.weekday is None:
                raise bad("needs weekday")
            if self.days is not None or self.day is not None:
                raise bad("takes weekday only (no days/day)")
        elif self.kind == "semi_monthly":
            if not self.days or len(self.days) != 2:
                raise bad("needs exactly two days of month, e.g. [12, 25]")
            if any(not 1 <= d <= 31 for d in self.days) or self.days[0] >= self.days[1]:
                raise bad("days must be ascending days of month 1..31")
            if self.weekday is not None or self.day is not None:
                raise bad("takes days only (no weekday/day)")
        else:
            if self.day is None or not 1 <= self.day <= 31:
                raise bad("needs day of month 1..31")
            if self.weekday is not None or self.days is not None:
                raise bad("takes day only (no weekday/days)")
        if self.paper_signoff_required and self.paper_signoff_role is None:
            raise bad("paper_signoff_required needs paper_signoff_role")
        if any(n < 0 for n in self.reminder_working_days_before):
            raise bad("reminder_working_days_before must be ≥ 0")
        return self

    def due_days(self) -> list[int]:
        """Days of month for monthly / semi-monthly schedules (empty for weekly)."""
        if self.kind == "semi_monthly":
            return list(self.days or [])
        if self.kind == "monthly":
            return [self.day or 1]
        return []


def _default_schedules() -> list[ReportSchedule]:
    # Platform default: a monthly report by the 25th for everything on the platform, plus the weekly
    # dispatch (周调度) for city-dispatched projects. Tenants override with their own lists.
    return [
        ReportSchedule(
            key="monthly_progress", name_zh="月度项目进展报告", kind="monthly", day=25, due_time=time(18, 0)
        ),
        ReportSchedule(
            key="weekly_dispatch",
            name_zh="周调度进展",
            kind="weekly",
            weekday=4,
            due_time=time(18, 0),
            applies_when=Applicability(tiers=["city"]),
            contents=["progress_text", "problems"],
        ),
    ]


Quarter = Literal["Q1", "Q2", "Q3", "Q4"]
QuarterFocus = Literal["permits", "starts", "investment", "completion"]
_DEFAULT_FOCUS: dict[Quarter, QuarterFocus] = {
    "Q1": "permits",  # 一季度抓手续办理
    "Q2": "starts",  # 二季度抓开工复工
    "Q3": "investment",  # 三季度抓投资进度
    "Q4": "completion",  # 四季度抓全年完成和来年储备
}


class ReportsSection(StrictModel):
    schedules: list[ReportSchedule] = Field(default_factory=_default_schedules)
    quarter_focus: dict[Quarter, QuarterFocus] = Field(
        default_factory=lambda: dict(_DEFAULT_FOCUS),
        description="the dispatch rhythm's focus per quarter (seed 001 (八)): Q1 permits, Q2 starts and "
        "restarts, Q3 investment progress, Q4 completion and next year's reserve",
    )
    agent_weekly: ReportSchedule | None = Field(
        None,
        description="the agents' (代办员) weekly work report — one per agent, not per project "
        "(Anyang 代办员制度 八.2: every Thursday afternoon); weekly only",
    )

    @model_validator(mode="after")
    def _unique(self) -> ReportsSection:
        keys = [s.key for s in self.schedules]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"reports.schedules: duplicate keys {dupes}")
        if self.agent_weekly is not None:
            if self.agent_weekly.kind != "weekly" or self.agent_weekly.weekday is None:
                raise ValueError("reports.agent_weekly must be a weekly schedule with a weekday")
            if self.agent_weekly.key in keys:
                raise ValueError(
                    f"reports.agent_weekly.key {self.agent_weekly.key!r} repeats a project schedule key"
                )
        return self
