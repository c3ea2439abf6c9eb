from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from steward.kit.inputs import Input

Satisfaction = Literal["very_satisfied", "satisfied", "basically_satisfied", "unsatisfied"]
SATISFACTION_ZH = {
    "very_satisfied": "非常满意",
    "satisfied": "满意",
    "basically_satisfied": "基本满意",
    "unsatisfied": "不满意",
}


class PickIn(Input):
    entry_ids: list[uuid.UUID] = Field(
        min_length=1, max_length=200, description="service-log entries to call back"
    )


class RecordIn(Input):
    called_by: str = Field(min_length=1, max_length=100, description="who called (service room)")
    called_at: datetime
    answer: str = Field(min_length=1, max_length=4000, description="the enterprise's answer")
    satisfaction: Satisfaction


class ReturnVisitOut(BaseModel):
    id: uuid.UUID
    entry_id: uuid.UUID
    project_id: uuid.UUID
    tenant: str
    month: str
    specialist: str = Field(description="who logged the service record (person name, else login subject)")
    visited_at: datetime
    picked_by: str
    picked_at: datetime
    status: Literal["picked", "done"]
    called_by: str | None
    called_at: datetime | None
    answer: str
    satisfaction: Satisfaction | None


class ReturnVisitList(BaseModel):
    items: list[ReturnVisitOut]


class StatsRow(BaseModel):
    key: str = Field(description="specialist subject or unit id")
    name: str
    records: int = Field(description="service records of the month")
    picked: int
    visited: int
    unvisited: int = Field(description="picked, not yet called back")
    by_satisfaction: dict[str, int]
    satisfied_percent: Decimal | None = Field(description="(very) satisfied / visited × 100")


class StatsOut(BaseModel):
    tenant: str
    month: str
    specialists: list[StatsRow]
    units: list[StatsRow]
    totals: StatsRow
