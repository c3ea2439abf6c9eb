"""Request and response models of the series domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from steward.kit.inputs import Input, TenantCode
from steward.meetings.meetings.schemas import Participant


class SyncIn(Input):
    """Create or refresh a tenant's series from its effective rules (section ``meetings``)."""

    tenant: TenantCode


class SeriesUpdate(Input):
    """What the rules do not say: where, who chairs, who takes part (参会人员)."""

    location: str | None = Field(None, max_length=200)
    chair_subject: str | None = Field(None, max_length=200)
    chair_name: str | None = Field(None, max_length=200)
    participants: list[Participant] | None = Field(None, max_length=500)


class SeriesOut(BaseModel):
    id: uuid.UUID
    tenant: str
    key: str
    name: str
    active: bool
    spec: dict[str, Any] = Field(description="the series' rule (rules section meetings.series[])")
    location: str
    chair_subject: str | None
    chair_name: str | None
    participants: list[Participant]
    meetings_count: int
    updated_at: datetime


class SeriesList(BaseModel):
    items: list[SeriesOut]


class GenerateOut(BaseModel):
    created: int
    skipped: int
