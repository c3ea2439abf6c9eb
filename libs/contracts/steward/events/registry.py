"""Events the registry publishes (bodies of CloudEvents; see :mod:`steward.events.envelope`)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field
from steward.events.envelope import EventData


class TenantCreated(EventData):
    aggregate: ClassVar[str] = "tenant"
    event: ClassVar[str] = "created"
    summary: ClassVar[str] = "A tenant (district, zone, township …) joined the tree."

    code: str
    name: str
    kind: str
    parent: str | None


class RulesUpdated(EventData):
    aggregate: ClassVar[str] = "rules"
    event: ClassVar[str] = "updated"
    summary: ClassVar[str] = (
        "A tenant's rules changed (a new version was stored, or a stored version took effect). "
        "Services refresh cached effective rules of this tenant and its subtree."
    )

    tenant: str
    version: int
    effective_from: datetime
    changed_paths: list[str] = Field(default_factory=list)
    took_effect: bool = False


class UnitCreated(EventData):
    aggregate: ClassVar[str] = "unit"
    event: ClassVar[str] = "created"
    summary: ClassVar[str] = "A department, enterprise, zone committee or township unit was registered."

    unit_id: str
    name: str
    kind: str


class ProjectRegistered(EventData):
    aggregate: ClassVar[str] = "project"
    event: ClassVar[str] = "registered"
    summary: ClassVar[str] = "A project was registered and got its lifetime code and derived dispatch."

    project_id: str
    code: str
    name: str
    owner_unit_id: str | None
    total_investment: str = Field(description="Exact decimal yuan")
    funding_type: str
    key_level: str
    stage: str
    tier: str
    on_platform: bool
    steward_required: bool
    named_responsibility: bool


class ProjectUpdated(EventData):
    aggregate: ClassVar[str] = "project"
    event: ClassVar[str] = "updated"
    summary: ClassVar[str] = "Project attributes changed; ``changes`` maps each field to [old, new]."

    project_id: str
    code: str
    changes: dict[str, list[object]]


class ProjectStageChanged(EventData):
    aggregate: ClassVar[str] = "project"
    event: ClassVar[str] = "stage_changed"
    summary: ClassVar[str] = "A project moved through its lifecycle (who, when and why are recorded)."

    project_id: str
    code: str
    from_stage: str
    to_stage: str
    reason: str


class RosterAssigned(EventData):
    aggregate: ClassVar[str] = "roster"
    event: ClassVar[str] = "assigned"
    summary: ClassVar[str] = "A person was named to a role of a project's responsibility roster."

    project_id: str
    code: str
    assignment_id: str
    role_key: str
    person_id: str


class RosterUnassigned(EventData):
    aggregate: ClassVar[str] = "roster"
    event: ClassVar[str] = "unassigned"
    summary: ClassVar[str] = "A roster assignment ended."

    project_id: str
    code: str
    assignment_id: str
    role_key: str
    person_id: str


class RosterRoleMissing(EventData):
    aggregate: ClassVar[str] = "roster"
    event: ClassVar[str] = "role_missing"
    summary: ClassVar[str] = "A project lacks a role its tenant's roster template requires."

    project_id: str
    code: str
    missing_roles: list[str]


REGISTRY_EVENTS: tuple[type[EventData], ...] = (
    TenantCreated,
    RulesUpdated,
    UnitCreated,
    ProjectRegistered,
    ProjectUpdated,
    ProjectStageChanged,
    RosterAssigned,
    RosterUnassigned,
    RosterRoleMissing,
)
