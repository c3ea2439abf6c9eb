from __future__ import annotations

import re
import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator

from steward.kit.inputs import Input, TenantCode

# 统一社会信用代码: 18 characters from digits and upper-case letters without I, O, S, V, Z.
CREDIT_CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
PHONE = re.compile(r"^(\+?86)?1[3-9]\d{9}$|^0\d{2,3}-?\d{7,8}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class UnitKind(StrEnum):
    DEPARTMENT = "department"
    ENTERPRISE = "enterprise"
    ZONE_COMMITTEE = "zone_committee"
    TOWNSHIP = "township"
    OTHER = "other"


class UnitCreate(Input):
    tenant: TenantCode
    kind: UnitKind
    name: str = Field(min_length=1, max_length=200)
    credit_code: str | None = None

    @field_validator("credit_code")
    @classmethod
    def _credit(cls, v: str | None) -> str | None:
        if v is not None and not CREDIT_CODE.match(v):
            raise ValueError("not a unified social credit code (18 characters)")
        return v


class UnitOut(BaseModel):
    id: uuid.UUID
    tenant: str
    kind: UnitKind
    name: str
    credit_code: str | None
    created_at: datetime


class UnitList(BaseModel):
    items: list[UnitOut]
    next_cursor: str | None = None


class PersonCreate(Input):
    tenant: TenantCode
    unit_id: uuid.UUID | None = None
    name: str = Field(min_length=1, max_length=100)
    title: str = Field(default="", max_length=100)
    phone: str | None = None
    email: str | None = None
    wecom_id: str | None = Field(default=None, max_length=100)
    subject: str | None = Field(default=None, max_length=200, description="login subject (JWT sub)")

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        if v is not None and not PHONE.match(v.replace(" ", "")):
            raise ValueError("not a mainland mobile or landline number")
        return v.replace(" ", "") if v else v

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v is not None and not EMAIL.match(v):
            raise ValueError("not an email address")
        return v


class PersonOut(BaseModel):
    id: uuid.UUID
    tenant: str
    unit_id: uuid.UUID | None
    name: str
    title: str
    phone: str | None = Field(description="Masked (138****5678) for roles that do not need it")
    email: str | None
    subject: str | None
    created_at: datetime


class PersonList(BaseModel):
    items: list[PersonOut]
    next_cursor: str | None = None
