"""Ranking requests and responses."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field

from steward.kit.inputs import Input, TenantCode

SubjectId = Annotated[str, Field(min_length=1, max_length=64)]
Period = Annotated[str, Field(pattern=r"^[0-9]{4}(-(0[1-9]|1[0-2]|Q[1-4]|H[12]))?$")]


class MemberIn(Input):
    subject_id: SubjectId
    subject_name: str = Field(min_length=1, max_length=200)
    group: str = Field("", max_length=64, description="ranked apart from other groups (districts / zones …)")


class MembersIn(Input):
    tenant: TenantCode
    members: list[MemberIn] = Field(min_length=1, max_length=5000)


class ExemptionIn(Input):
    tenant: TenantCode
    period: Period
    subject_id: SubjectId
    reason: str = Field(min_length=2, max_length=500, description="e.g. force majeure (不可抗力)")
    approver: str = Field(min_length=1, max_length=200)


class IndicatorIn(Input):
    subject_id: SubjectId
    value: Decimal = Field(ge=Decimal("-1e12"), le=Decimal("1e12"), decimal_places=2)


class IndicatorsIn(Input):
    tenant: TenantCode
    period: Period
    values: list[IndicatorIn] = Field(min_length=1, max_length=5000)


class PublishIn(Input):
    tenant: TenantCode


class RankingRow(BaseModel):
    subject_id: str
    subject_name: str | None = None
    group: str = ""
    total: Decimal | None
    rank: int | None
    reverse_rank: int | None = None
    top: bool = False
    bottom: bool = False
    last: bool = False
    exempt: bool = False
    exemption: str | None = None


class ConsequenceOut(BaseModel):
    id: uuid.UUID
    tenant: str
    source: str
    definition: str
    cause: str
    subject_kind: str
    subject_id: str
    subject_name: str | None
    action: str
    streak: int
    reason_zh: str
    triggered_at: datetime


class RankingOut(BaseModel):
    tenant: str
    ranking: str
    name_zh: str
    period: str
    published: bool
    published_at: datetime | None = None
    public: bool
    top_n: int
    bottom_n: int
    rows: list[RankingRow]
    consequences: list[ConsequenceOut] = Field(default_factory=list)
