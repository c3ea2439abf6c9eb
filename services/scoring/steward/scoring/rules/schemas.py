"""Facts scored by the rules engine, and the dry run of a tenant's scorecard rules."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field, field_validator

from steward.kit.inputs import Input, TenantCode
from steward.scoring.ledger.schemas import EntryOut


class FactIn(Input):
    """An observed fact no service publishes (attendance, integrity findings, procedures still open at
    period end …), scored by the tenant's rules exactly like an event."""

    tenant: TenantCode
    type: str = Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$", max_length=80)
    id: str = Field(min_length=1, max_length=64, description="the fact's own id: the same id scores once")
    occurred_at: datetime
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at needs a time zone")
        return value


class FactOut(BaseModel):
    recorded: list[EntryOut]


class PreviewIn(Input):
    """What a tenant's rules would record for an event (nothing is written)."""

    tenant: TenantCode
    type: str = Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$", max_length=80)
    data: dict[str, Any] = Field(default_factory=dict)


class PreviewItem(BaseModel):
    scorecard: str
    rule: str
    dimension: str
    points: Decimal
    subject: str | None
    reason_zh: str


class PreviewOut(BaseModel):
    attributes: dict[str, Any]
    matches: list[PreviewItem]
