"""Ledger requests and responses (points are exact decimals, serialised as strings)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field, field_validator

from steward.kit.inputs import Input, TenantCode

PointsIn = Annotated[Decimal, Field(ge=Decimal(-100), le=Decimal(100), max_digits=6, decimal_places=2)]
KeyStr = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
SubjectId = Annotated[str, Field(min_length=1, max_length=64)]


class ManualEntryIn(Input):
    """A manual entry by an evaluator, for what no event can score (politics, discipline, integrity,
    overall evaluation …), always with a reason."""

    tenant: TenantCode
    scorecard: KeyStr
    subject_id: SubjectId
    subject_name: str | None = Field(None, max_length=200)
    dimension: KeyStr
    points: PointsIn
    reason_zh: str = Field(min_length=2, max_length=500)
    occurred_at: datetime | None = Field(None, description="when it happened (default: now)")
    key: str | None = Field(None, max_length=64, description="idempotency key: the same key records once")

    @field_validator("points")
    @classmethod
    def _nonzero(cls, value: Decimal) -> Decimal:
        if value == 0:
            raise ValueError("points must not be zero")
        return value

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("occurred_at needs a time zone")
        return value


class CorrectionIn(Input):
    reason_zh: str = Field(min_length=2, max_length=500)


class EntryOut(BaseModel):
    id: uuid.UUID
    tenant: str
    scorecard: str
    period: str
    subject_kind: str
    subject_id: str
    subject_name: str | None
    dimension: str
    points: Decimal = Field(description="points the entry asked for")
    applied: Decimal | None = Field(None, description="points it actually moved (floor/cap, corrections)")
    value_after: Decimal | None = None
    note: str = ""
    rule: str
    source: str
    source_type: str
    reason_zh: str
    occurred_at: datetime
    recorded_at: datetime
    actor: str | None
    corrects: uuid.UUID | None
    after_close: bool = False


class DimensionOut(BaseModel):
    key: str
    name_zh: str
    max_points: Decimal
    value: Decimal


class ScoreOut(BaseModel):
    tenant: str
    scorecard: str
    name_zh: str
    period: str
    subject_kind: str
    subject_id: str
    subject_name: str | None
    total: Decimal
    max_total: Decimal
    closed: bool
    rules_version: str | None
    dimensions: list[DimensionOut]
    entries: list[EntryOut]
