"""Period closing and replay."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel

from steward.kit.inputs import Input, TenantCode


class CloseIn(Input):
    tenant: TenantCode


class PeriodOut(BaseModel):
    tenant: str
    scorecard: str
    period: str
    closed_at: datetime
    closed_by: str
    rules_version: str
    subjects: int
    entries: int
    digest: str


class Difference(BaseModel):
    subject_id: str
    dimension: str
    frozen: Decimal | None
    replayed: Decimal | None


class ReplayOut(BaseModel):
    tenant: str
    scorecard: str
    period: str
    rules_version: str
    identical: bool
    frozen_digest: str
    replayed_digest: str
    subjects: int
    differences: list[Difference]
