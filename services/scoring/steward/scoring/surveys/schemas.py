"""Survey and rectification requests and responses."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from steward.kit.inputs import Input

Level = Literal["very_satisfied", "satisfied", "neutral", "dissatisfied", "very_dissatisfied"]
LEVEL_ZH = {
    "very_satisfied": "非常满意",
    "satisfied": "满意",
    "neutral": "一般",
    "dissatisfied": "不满意",
    "very_dissatisfied": "非常不满意",
}


class AnswerIn(Input):
    answers: dict[str, Level] = Field(description="one level per item of the form")
    comment: str = Field("", max_length=2000, description="对“代办员”工作的意见和建议")


class SurveyItemOut(BaseModel):
    key: str
    name_zh: str


class SurveyForm(BaseModel):
    survey_id: uuid.UUID
    name_zh: str
    subject_id: str
    project_code: str | None
    items: list[SurveyItemOut]
    levels: list[dict[str, str]]
    answered: bool
    expires_at: datetime


class SurveyOut(BaseModel):
    id: uuid.UUID
    tenant: str
    survey: str
    subject_id: str
    project_id: str | None
    contact: str
    sent_at: datetime
    expires_at: datetime
    answered_at: datetime | None
    answers: dict[str, str]
    overall: str | None
    comment: str


class CallbackIn(Input):
    note: str = Field(min_length=2, max_length=2000, description="what the enterprise said on the call-back")


class CloseRectificationIn(Input):
    confirmed_by_enterprise: bool = False
    reason: str | None = Field(None, min_length=2, max_length=1000)


class RectificationOut(BaseModel):
    id: uuid.UUID
    tenant: str
    survey_id: uuid.UUID
    subject_id: str
    opened_at: datetime
    due_at: datetime
    status: str
    overdue: bool
    callbacks: list[dict[str, Any]]
    closed_at: datetime | None
    closed_by: str | None
    close_reason: str | None
    confirmed_by_enterprise: bool
