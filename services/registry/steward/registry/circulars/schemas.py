from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from steward.kit.inputs import Input, TenantCode
from steward.kit.money import Money


class CircularIn(Input):
    tenant: TenantCode
    period: str = Field(pattern=r"^\d{4}-\d{2}-H[12]$", description="semi-monthly period, e.g. 2026-11-H1")
    schedule_key: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_]*$",
        max_length=64,
        description="default: the tenant's semi-monthly schedule",
    )
    title: str | None = Field(default=None, min_length=1, max_length=200)
    remarks: str = Field(default="", max_length=4000, description="the office's words on the period")


class ProjectLine(BaseModel):
    code: str
    name: str
    tenant: str
    tenant_name: str
    stage: str
    status: str = Field(description="on_time | late | missing | pending")
    delay_hours: int
    investment_period: Money | None
    investment_ytd: Money
    annual_plan: Money | None
    plan_percent: Decimal | None
    progress: str = Field(description="the report's progress text (first 300 characters)")


class TenantLine(BaseModel):
    tenant: str
    tenant_name: str
    required: int
    on_time: int
    late: int
    missing: int
    investment_period: Money
    investment_ytd: Money
    annual_plan: Money
    plan_percent: Decimal | None


class CircularContent(BaseModel):
    tenant_name: str
    due_at: datetime | None
    totals: TenantLine
    tenants: list[TenantLine]
    projects: list[ProjectLine]
    late: list[ProjectLine] = Field(description="reported after the due time: criticised by name")
    missing: list[ProjectLine] = Field(description="did not report: criticised by name")


class CircularOut(BaseModel):
    id: uuid.UUID
    tenant: str
    period: str
    schedule_key: str
    number: int
    year: int
    title: str
    remarks: str
    issued_by: str
    issued_at: datetime
    content: CircularContent


class CircularSummaryOut(BaseModel):
    id: uuid.UUID
    tenant: str
    period: str
    number: int
    title: str
    issued_at: datetime
    late: int
    missing: int


class CircularList(BaseModel):
    items: list[CircularSummaryOut]
    next_cursor: str | None = None
