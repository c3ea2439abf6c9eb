from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from steward.kit.inputs import Input


class PlanNodeOut(BaseModel):
    key: str
    name_zh: str
    duration_days: int
    after: list[str]
    weight: int


class TemplateOut(BaseModel):
    key: str
    name_zh: str
    nodes: list[PlanNodeOut]


class TemplateList(BaseModel):
    tenant: str
    items: list[TemplateOut]


class ApplyIn(Input):
    template: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    start: date | None = Field(
        default=None, description="the plan's first day; default the project's planned start, else today"
    )


class NodeOut(BaseModel):
    milestone_id: uuid.UUID
    key: str | None
    name: str
    after: list[str]
    duration_days: int | None
    planned_start: date | None
    planned_date: date
    actual_date: date | None


class NodePlanOut(BaseModel):
    project_id: uuid.UUID
    template: str
    start: date
    planned_completion: date
    nodes: list[NodeOut]


class DelayIn(Input):
    planned_date: date | None = Field(default=None, description="the node's new planned finish")
    working_days: int | None = Field(default=None, ge=1, le=1000, description="or: push its finish by this")
    reason: str = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _one(self) -> DelayIn:
        if (self.planned_date is None) == (self.working_days is None):
            raise ValueError("give exactly one of planned_date and working_days")
        return self


class MovedNode(BaseModel):
    milestone_id: uuid.UUID
    key: str | None
    name: str
    old_start: date | None
    old_date: date
    new_start: date | None
    new_date: date
    working_days_later: int = Field(description="working days the planned finish moved")


class DelayOut(BaseModel):
    delayed: MovedNode
    moved: list[MovedNode] = Field(description="successors whose planned dates were pushed")
    unchanged: list[str] = Field(description="successors whose slack absorbed the delay")


class ChangeItemIn(Input):
    milestone_id: uuid.UUID
    planned_date: date = Field(description="the node's proposed planned finish (moved to a working day)")


class ChangeIn(Input):
    items: list[ChangeItemIn] = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=1000)


class RejectIn(Input):
    reason: str = Field(min_length=1, max_length=1000)


class ChangeItemOut(BaseModel):
    milestone_id: uuid.UUID
    key: str
    name: str
    old_date: date = Field(description="the planned finish when the change was requested")
    planned_date: date = Field(description="the proposed planned finish")


class ChangeOut(BaseModel):
    id: uuid.UUID
    project_id: uuid.UUID
    status: Literal["pending", "approved", "rejected"]
    items: list[ChangeItemOut]
    reason: str
    requested_by: str
    requested_at: datetime
    approver_unit_ids: list[uuid.UUID] = Field(description="the lead department's unit(s) that may decide")
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    moved: dict[str, list[date]] = Field(
        description="when approved: node key -> [old, new] planned finish, the pushed successors included"
    )


class ChangeList(BaseModel):
    items: list[ChangeOut]
