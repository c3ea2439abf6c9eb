"""Section ``meetings``: weekly joint meeting series (Anyang 周例会制度, Huiji 联席会议周例会):
Saturday morning, agenda items by Tuesday 17:00 signed by the unit head and the leader in charge,
compiled on Friday, fixed order, every decision becomes a tracked matter reported next time."""

from __future__ import annotations

from datetime import time
from typing import Literal

from pydantic import Field, model_validator

from steward.rules.base import Key, StrictModel, TimeOfDay, Weekday

__all__ = ["AgendaDeadline", "AgendaPart", "MeetingSeries", "MeetingsSection", "SignOffRole"]

AgendaPart = Literal[
    "supervision_report",  # 督查室汇报上次会议研究事项落实情况
    "project_problems",  # 项目问题研究：指挥长/责任单位汇报，相关部门表态发言，主持人明确时限和责任单位
    "chair_summary",  # 主持人总结讲话
]
SignOffRole = Literal["unit_head", "leader_in_charge"]  # 单位主要领导 / 分管县级领导


_SIGNOFFS: tuple[SignOffRole, ...] = ("unit_head", "leader_in_charge")
_AGENDA: tuple[AgendaPart, ...] = ("supervision_report", "project_problems", "chair_summary")


class AgendaDeadline(StrictModel):
    weekday: Weekday = 1  # Tuesday
    time: TimeOfDay = time(17, 0)


class MeetingSeries(StrictModel):
    key: Key
    name_zh: str = Field(min_length=1)
    frequency: Literal["weekly"] = "weekly"
    weekday: Weekday = 5  # Saturday
    time: TimeOfDay = time(9, 0)
    chair_role: Key = Field("chief", description="主持人: 主任（县长）")
    organizer_unit: str = "发展改革局重点项目办"
    supervision_unit: str = "督查室"
    agenda_deadline: AgendaDeadline = Field(default_factory=AgendaDeadline)
    compile_weekday: Weekday = 4  # Friday: 重点办汇总整理会议议题
    required_signoffs: list[SignOffRole] = Field(default_factory=lambda: list(_SIGNOFFS))
    agenda_order: list[AgendaPart] = Field(default_factory=lambda: list(_AGENDA))
    department_statements: bool = Field(True, description="相关部门就问题结合职责表态发言")
    agenda_reminder_working_days_before: int = Field(1, ge=0)
    notice_hours_before: int = Field(24, ge=0, description="会议通知 sent this many hours before")
    ad_hoc_allowed: bool = Field(True, description="特殊情况可随时召开 / 临时协调会议")
    skip_on_holiday: bool = True
    decisions_become_matters: bool = True
    decision_default_working_days: int = Field(10, ge=1, description="when the chair sets no deadline")
    report_decisions_at_next_meeting: bool = True
    minutes_due_working_days: int = Field(2, ge=0, description="会议纪要 issued within N working days")

    @model_validator(mode="after")
    def _order(self) -> MeetingSeries:
        if len(set(self.agenda_order)) != len(self.agenda_order):
            raise ValueError("agenda_order lists a part twice")
        if len(set(self.required_signoffs)) != len(self.required_signoffs):
            raise ValueError("required_signoffs lists a role twice")
        return self


def _default_series() -> list[MeetingSeries]:
    return [MeetingSeries(key="weekly_joint", name_zh="重大项目推进工作周例会")]


class MeetingsSection(StrictModel):
    series: list[MeetingSeries] = Field(default_factory=_default_series)

    @model_validator(mode="after")
    def _unique(self) -> MeetingsSection:
        keys = [s.key for s in self.series]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"meetings.series: duplicate keys {dupes}")
        return self
