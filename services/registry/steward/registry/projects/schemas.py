from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, model_validator

from steward.kit.inputs import Input, TenantCode
from steward.kit.money import Money
from steward.registry.projects.national_code import NationalCode
from steward.registry.projects.stages import Stage


class FundingType(StrEnum):
    ENTERPRISE = "enterprise"
    GOVERNMENT = "government"
    PPP = "ppp"


class KeyLevel(StrEnum):
    NATIONAL = "national"
    PROVINCIAL = "provincial"
    CITY = "city"
    DISTRICT = "district"
    NONE = "none"


class Location(Input):
    lat: float = Field(ge=-90, le=90, strict=True)  # a JSON number: not true/false, not "31.2"
    lon: float = Field(ge=-180, le=180, strict=True)
    address: str = Field(default="", max_length=300)


class _Dates(Input):
    planned_start: date | None = None
    planned_completion: date | None = None

    @model_validator(mode="after")
    def _order(self) -> _Dates:
        if self.planned_start and self.planned_completion and self.planned_completion < self.planned_start:
            raise ValueError("planned_completion is before planned_start")
        return self


class ProjectCreate(_Dates):
    tenant: TenantCode = Field(description="Registering tenant (division code)")
    name: str = Field(min_length=1, max_length=200)
    national_code: NationalCode | None = Field(default=None, description="全国投资项目代码 (24 characters)")
    owner_unit_id: uuid.UUID | None = Field(default=None, description="Owner enterprise (业主单位)")
    total_investment: Money = Field(description="Total investment in yuan; exact ('25000000', '2500万')")
    annual_plan_investment: Money | None = None
    funding_type: FundingType = FundingType.ENTERPRISE
    industry: str = Field(default="", max_length=100)
    key_level: KeyLevel = KeyLevel.NONE
    major: bool = Field(default=False, description="重大项目 (gets a project secretary under 六个一)")
    stage: Stage = Field(
        default=Stage.NEGOTIATING, description="Initial stage (projects already underway may start later)"
    )
    location: Location | None = None


class ProjectUpdate(_Dates):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    national_code: NationalCode | None = Field(default=None, description="全国投资项目代码; null clears it")
    owner_unit_id: uuid.UUID | None = None
    total_investment: Money | None = None
    annual_plan_investment: Money | None = None
    funding_type: FundingType | None = None
    industry: str | None = Field(default=None, max_length=100)
    key_level: KeyLevel | None = None
    major: bool | None = None
    location: Location | None = None
    expected_version: int | None = Field(
        default=None, description="Optimistic lock: the row_version you read"
    )


class Dispatch(BaseModel):
    tier: str
    on_platform: bool
    steward_required: bool
    named_responsibility: bool
    reasons: list[str]
    rules_versions: list[str] = Field(
        description="tenant@version of each rules version in force at derivation"
    )
    derived_at: datetime


class ProjectOut(BaseModel):
    id: uuid.UUID
    code: str
    national_code: str | None = Field(description="全国投资项目代码, normalised with dashes")
    tenant: str
    name: str
    owner_unit_id: uuid.UUID | None
    total_investment: Money
    annual_plan_investment: Money | None
    funding_type: FundingType
    industry: str
    key_level: KeyLevel
    major: bool
    stage: Stage
    stage_zh: str
    dispatch: Dispatch
    location: Location | None
    planned_start: date | None
    planned_completion: date | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    row_version: int


class ProjectList(BaseModel):
    items: list[ProjectOut]
    next_cursor: str | None = None


class TransitionIn(Input):
    to_stage: Stage
    reason: str = Field(min_length=1, max_length=1000)


class StageChangeOut(BaseModel):
    from_stage: Stage | None
    to_stage: Stage
    reason: str
    actor: str
    at: datetime


class HistoryOut(BaseModel):
    project_id: uuid.UUID
    items: list[StageChangeOut]
    allowed_next: list[Stage]


class ProjectFilter(BaseModel):
    tenant: str | None = None
    stages: list[Stage] = Field(default_factory=list)
    tiers: list[str] = Field(default_factory=list)
    key_levels: list[KeyLevel] = Field(default_factory=list)
    funding_type: FundingType | None = None
    steward_required: bool | None = None
    national_code: str | None = None
    q: str | None = None


class ProjectBatchIn(Input):
    """``POST /v1/projects/bulk``: up to 1,000 registrations, each exactly a ``POST /v1/projects`` body.

    Items are validated one by one by the service (every problem of every item is reported), so
    the model takes them as objects; the documented schema names ``ProjectCreate``."""

    items: list[Any] = Field(
        min_length=1,
        description="Registrations (each the body of POST /v1/projects); at most 1,000 (more: 413)",
        json_schema_extra={"items": {"$ref": "#/components/schemas/ProjectCreate"}, "maxItems": 1000},
    )


class RegisteredItem(BaseModel):
    index: int = Field(description="Position in the batch (0-based) or the sheet's row number (import)")
    id: uuid.UUID
    code: str = Field(description="一项一码: the lifetime code")
    tenant: str
    name: str
    dispatch: Dispatch


class ProjectBatchOut(BaseModel):
    count: int
    items: list[RegisteredItem]


class ImportNote(BaseModel):
    row: int = Field(description="Row number as in the sheet (1 = the first row)")
    column: str = Field(description="The column header as in the sheet ('' for the whole row)")
    message: str


class ProjectImportOut(BaseModel):
    dry_run: bool
    rows: int = Field(description="Data rows read (blank rows and total rows skipped)")
    created: int = Field(description="Projects registered (0 with dry_run)")
    header_row: int
    columns: dict[str, str] = Field(description="Sheet column header → registration field")
    ignored_columns: list[str]
    warnings: list[ImportNote]
    items: list[RegisteredItem] = Field(description="One per data row; `index` is the sheet's row number")
