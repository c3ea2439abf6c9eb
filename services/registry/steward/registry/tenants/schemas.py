from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

CODE_PATTERN = re.compile(r"^\d{6}(\d{3}(\d{3})?)?$")


class TenantKind(StrEnum):
    CITY = "city"
    DISTRICT = "district"
    COUNTY = "county"
    ZONE = "zone"
    TOWNSHIP = "township"
    STREET = "street"

    @property
    def level(self) -> Literal["city", "district", "zone"]:
        """Dispatch level of the tenant: city, district or zone (zones, townships, streets)."""
        if self is TenantKind.CITY:
            return "city"
        if self in (TenantKind.DISTRICT, TenantKind.COUNTY):
            return "district"
        return "zone"


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="Administrative division code: 6, 9 or 12 digits", examples=["210112"])
    name: str = Field(min_length=1, max_length=100)
    kind: TenantKind
    parent: str = Field(description="Parent tenant's code")

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not CODE_PATTERN.match(v):
            raise ValueError("tenant code must be a 6-, 9- or 12-digit administrative division code")
        return v


class TenantOut(BaseModel):
    code: str
    name: str
    kind: TenantKind
    parent: str | None
    path: str
    level: str
    created_at: datetime


class TenantList(BaseModel):
    items: list[TenantOut]
