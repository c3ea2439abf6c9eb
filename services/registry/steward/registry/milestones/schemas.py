from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from steward.kit.inputs import Input

MilestoneStatus = Literal["done", "done_late", "delayed", "open"]


class MilestoneIn(Input):
    name: str = Field(min_length=1, max_length=200)
    key: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    planned_start: date | None = None
    planned_date: date
    owner_unit_id: uuid.UUID | None = None
    weight: int = Field(default=1, ge=1, le=100)

    @model_validator(mode="after")
    def _order(self) -> MilestoneIn:
        if self.planned_start and self.planned_start > self.planned_date:
            raise ValueError("planned_start is after planned_date")
        return self


class MilestoneUpdate(Input):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    planned_date: date | None = None
    owner_unit_id: uuid.UUID | None = None
    actual_date: date | None = None
    reason: str = Field(default="", max_length=1000)


class MilestoneOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    key: str | None
    name: str
    seq: int
    planned_start: date | None
    planned_date: date
    actual_date: date | None
    owner_unit_id: uuid.UUID | None
    weight: int
    status: MilestoneStatus
    days_late: int
    delayed_at: datetime | None


class GanttTask(BaseModel):
    id: uuid.UUID
    key: str | None
    name: str
    seq: int
    start: date | None
    end: date
    actual: date | None
    owner_unit_id: uuid.UUID | None
    owner_unit_name: str | None
    status: MilestoneStatus
    days_late: int
    weight: int


class PlanOut(BaseModel):
    project_id: uuid.UUID
    project_code: str
    project_name: str
    as_of: date
    planned_start: date | None
    planned_completion: date | None
    completion_percent: Decimal = Field(description="Weight of reached milestones / total weight × 100")
    planned_percent: Decimal = Field(description="Weight planned to be reached by as_of / total × 100")
    delayed: int
    tasks: list[GanttTask]
