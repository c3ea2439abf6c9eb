from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from steward.kit.inputs import Input


class RulesPut(Input):
    document: dict[str, Any] = Field(
        description="The tenant's own override (a partial rules document), merged onto its parent's rules",
        examples=[{"thresholds": {"steward_required_min": "2000万"}}],
    )
    effective_from: datetime | None = Field(default=None, description="When it takes effect; default now")
    comment: str = Field(default="", max_length=500)


class VersionRef(BaseModel):
    tenant: str
    version: int
    effective_from: datetime


class RulesVersionOut(BaseModel):
    tenant: str
    version: int
    document: dict[str, Any]
    effective_from: datetime
    comment: str
    created_by: str
    created_at: datetime


class RulesVersionList(BaseModel):
    items: list[RulesVersionOut]


class EffectiveRulesOut(BaseModel):
    tenant: str
    at: datetime
    versions: list[VersionRef] = Field(description="The stored versions merged, root first")
    document: dict[str, Any]


class ChangeOut(BaseModel):
    path: str
    op: str
    old: Any = None
    new: Any = None


class DispatchChange(BaseModel):
    project_id: str
    code: str
    name: str
    field: str
    current: Any
    proposed: Any


class DryRunOut(BaseModel):
    tenant: str
    valid: bool
    errors: list[dict[str, Any]] = Field(default_factory=list)
    changes: list[ChangeOut] = Field(default_factory=list)
    projects_examined: int = 0
    dispatch_changes: list[DispatchChange] = Field(
        default_factory=list,
        description="How stored projects would derive under the proposed rules. Stored projects keep their "
        "derivation: only projects registered (or re-valued) after the effective date use the new rules.",
    )
    roster_changes: list[DispatchChange] = Field(default_factory=list)


class PresetOut(BaseModel):
    name: str
    summary: str
    document: dict[str, Any] = Field(description="The preset override, as stored when it is applied")


class PresetList(BaseModel):
    items: list[PresetOut]


class PresetApply(Input):
    effective_from: datetime | None = Field(default=None, description="When it takes effect; default now")
    comment: str = Field(default="", max_length=500, description='Default: "preset <name>"')
