"""The CloudEvents 1.0 envelope every Steward event travels in, and the base of event bodies.

Subject on NATS: ``steward.events.<tenant>.<aggregate>.<event>``; CloudEvents ``type``:
``steward.<aggregate>.<event>.v<version>``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

SUBJECT_PREFIX = "steward.events"


class EventData(BaseModel):
    """Base of every event body. Subclasses set ``aggregate``, ``event`` and ``event_version``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    aggregate: ClassVar[str]
    event: ClassVar[str]
    event_version: ClassVar[int] = 1
    summary: ClassVar[str] = ""

    @classmethod
    def short_type(cls) -> str:
        """``project.registered`` — the name routes, templates and docs use."""
        return f"{cls.aggregate}.{cls.event}"

    @classmethod
    def ce_type(cls) -> str:
        """The CloudEvents ``type``: ``steward.project.registered.v1``."""
        return f"steward.{cls.aggregate}.{cls.event}.v{cls.event_version}"

    @classmethod
    def subject_for(cls, tenant: str, prefix: str = SUBJECT_PREFIX) -> str:
        return f"{prefix}.{tenant}.{cls.aggregate}.{cls.event}"


class CloudEvent(BaseModel):
    """CloudEvents 1.0 structured-mode JSON with Steward extensions (``tenant``, trace context)."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str
    source: str
    type: str
    time: datetime
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str | None = None
    tenant: str = Field(description="Administrative division code of the tenant the event belongs to")
    actor: str | None = Field(default=None, description="Subject of the user or service that caused it")
    traceparent: str | None = None
    data: dict[str, Any]

    @property
    def short_type(self) -> str:
        """``steward.project.registered.v1`` → ``project.registered``."""
        parts = self.type.split(".")
        return ".".join(parts[1:-1]) if len(parts) >= 4 else self.type
