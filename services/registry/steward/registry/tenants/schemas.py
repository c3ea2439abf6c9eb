from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from steward.kit.inputs import Input, TenantCode


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


class TenantCreate(Input):
    code: TenantCode = Field(
        description="Administrative division code: 6, 9 or 12 digits", examples=["210112"]
    )
    name: str = Field(min_length=1, max_length=100)
    kind: TenantKind
    parent: TenantCode = Field(description="Parent tenant's code")


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
