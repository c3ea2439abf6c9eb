from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from steward.kit.inputs import Input


class AssignmentIn(Input):
    role_key: str = Field(min_length=1, max_length=64)
    person_id: uuid.UUID | None = Field(default=None, description="for person and team roles")
    unit_id: uuid.UUID | None = Field(
        default=None, description="for unit roles (lead unit, responsible department)"
    )
    label: str = Field(default="", max_length=200, description="for bodies (e.g. the project HQ 指挥部)")


class HolderOut(BaseModel):
    person_id: uuid.UUID | None = None
    person_name: str | None = None
    title: str | None = None
    phone: str | None = None
    unit_id: uuid.UUID | None = None
    unit_name: str | None = None
    label: str = ""


class AssignmentOut(BaseModel):
    id: uuid.UUID
    role_key: str
    holder: HolderOut
    assigned_by: str
    assigned_at: datetime


class RoleStatus(BaseModel):
    key: str
    name_zh: str
    name_en: str
    holder: str
    required: bool = Field(description="Required for this project under the tenant's template")
    min: int
    max: int | None
    assignments: list[AssignmentOut]
    missing: bool


class RosterOut(BaseModel):
    project_id: uuid.UUID
    code: str
    template_name: str
    roles: list[RoleStatus]
    missing_roles: list[str]
    complete: bool


class IncompleteProject(BaseModel):
    project_id: uuid.UUID
    code: str
    name: str
    tenant: str
    tier: str
    missing_roles: list[str]


class CompletenessOut(BaseModel):
    tenant: str
    projects_checked: int
    incomplete: int
    items: list[IncompleteProject]
