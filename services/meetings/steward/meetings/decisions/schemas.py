"""Request and response models of the decisions domain (表态发言, 议定事项)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from steward.kit.inputs import Input, LongText, Name, Text


class StatementCreate(Input):
    topic_id: uuid.UUID | None = None
    kind: Literal["report", "statement", "summary"] = Field(
        description="report: 责任单位汇报; statement: 相关部门表态发言; summary: 主持人总结"
    )
    unit_name: Name
    speaker: str = Field("", max_length=200)
    text: LongText = Field(min_length=1)


class StatementOut(BaseModel):
    id: uuid.UUID
    meeting_id: uuid.UUID
    topic_id: uuid.UUID | None
    kind: str
    unit_name: str
    speaker: str
    text: str
    recorded_at: datetime


class DecisionCreate(Input):
    """The chair settles who does what by when (会议主持人明确解决问题的时间、责任单位)."""

    topic_id: uuid.UUID | None = None
    text: Text = Field(min_length=1)
    responsible_unit_name: Name
    responsible_unit_id: str | None = Field(None, max_length=64)
    responsible_person: str | None = Field(None, max_length=200)
    due_date: date | None = Field(None, description="set by the chair; default: N working days (rules)")


class DecisionOut(BaseModel):
    id: uuid.UUID
    meeting_id: uuid.UUID
    topic_id: uuid.UUID | None
    number: int
    text: str
    responsible_unit_id: str | None
    responsible_unit_name: str
    responsible_person: str | None
    due_date: date
    deadline_source: Literal["chair", "default"]
    matter_id: str | None
    matter_number: str | None
    filed_at: datetime | None
    filing_error: str | None = Field(None, description="why the issues service refused the matter")


class DecisionList(BaseModel):
    items: list[DecisionOut]


class StatementList(BaseModel):
    items: list[StatementOut]
