"""Warning-light responses and the plan figures an administrator may set."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from steward.kit.inputs import Input
from steward.kit.money import Money


class PlanIn(Input):
    annual_plan: Money | None = None
    funds_planned: Money | None = None
    funds_in_place: Money | None = None
    planned_start: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$")
    planned_completion: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$")


class LightChangeOut(BaseModel):
    from_light: str
    to_light: str
    reasons: list[str]
    at: datetime


class LightOut(BaseModel):
    project_id: str
    tenant: str
    code: str
    name: str
    stage: str
    light: str
    reasons: list[str]
    annual_plan: Decimal | None
    investment_year: Decimal | None
    delayed_milestones: int
    overdue_matters: int
    missing_reports: int
    updated_at: datetime
    history: list[LightChangeOut] = Field(default_factory=list)


class Rates(BaseModel):
    """The four rates (四率) of a tenant's subtree for a year; null when nothing is planned."""

    tenant: str
    year: int
    projects: int
    counts: dict[str, int]
    start_rate: Decimal | None = Field(None, description="开工率")
    investment_rate: Decimal | None = Field(None, description="投资完成率")
    funds_rate: Decimal | None = Field(None, description="资金到位率")
    on_time_completion_rate: Decimal | None = Field(None, description="按期竣工率")
