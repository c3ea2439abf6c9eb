from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from steward.kit.db import utcnow
from steward.kit.ids import new_id


class Unit(SQLModel, table=True):
    """A department (局委), enterprise (业主单位), zone committee or township government."""

    __tablename__ = "units"
    __table_args__ = (sa.UniqueConstraint("tenant_code", "name", name="uq_units_tenant_name"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    tenant_code: str = Field(foreign_key="tenants.code", index=True)
    tenant_path: str
    kind: str
    name: str = Field(max_length=200)
    credit_code: str | None = Field(default=None, max_length=18, description="统一社会信用代码 (enterprises)")
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )


class Person(SQLModel, table=True):
    __tablename__ = "people"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    tenant_code: str = Field(foreign_key="tenants.code", index=True)
    tenant_path: str
    unit_id: uuid.UUID | None = Field(default=None, foreign_key="units.id", index=True)
    name: str = Field(max_length=100)
    title: str = Field(default="", max_length=100)
    phone: str | None = Field(default=None, max_length=20)
    email: str | None = Field(default=None, max_length=200)
    wecom_id: str | None = Field(default=None, max_length=100)
    subject: str | None = Field(
        default=None, max_length=200, index=True, description="login subject (JWT sub)"
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
