"""The CloudEvents 1.0 envelope every Steward event travels in, and the base of event bodies.

Subject on NATS: ``steward.events.<tenant>.<aggregate>.<event>``; CloudEvents ``type``:
``steward.<aggregate>.<event>.v<version>``; ``dataschema``: ``urn:steward:events:<type>``, the ``$id``
of the body's published JSON Schema (``docs/api/events/<type>.schema.json``).

The models are strict for producers (``extra="forbid"`` catches a misspelt field when an event is
built); the published schemas are tolerant for consumers (fields may be added within a version).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SUBJECT_PREFIX = "steward.events"
SCHEMA_URN_PREFIX = "urn:steward:events:"


def schema_urn(ce_type: str) -> str:
    """The ``dataschema`` of events of ``ce_type``: the ``$id`` of its published JSON Schema."""
    return f"{SCHEMA_URN_PREFIX}{ce_type}"


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
    def dataschema(cls) -> str:
        """``urn:steward:events:steward.project.registered.v1`` (CloudEvents ``dataschema``)."""
        return schema_urn(cls.ce_type())

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
    dataschema: str | None = Field(
        default=None,
        description="URI of the JSON Schema of `data`: urn:steward:events:<type> (docs/api/events/<type>.schema.json)",
    )
    tenant: str = Field(description="Administrative division code of the tenant the event belongs to")
    actor: str | None = Field(default=None, description="Subject of the user or service that caused it")
    traceparent: str | None = None
    data: dict[str, Any]

    @model_validator(mode="before")
    @classmethod
    def _default_dataschema(cls, values: Any) -> Any:
        """Steward's own types name their schema unless the producer set another one."""
        if isinstance(values, dict) and values.get("dataschema") is None:
            ce_type = values.get("type")
            if isinstance(ce_type, str) and ce_type.startswith("steward."):
                return {**values, "dataschema": schema_urn(ce_type)}
        return values

    @property
    def short_type(self) -> str:
        """``steward.project.registered.v1`` → ``project.registered``."""
        parts = self.type.split(".")
        return ".".join(parts[1:-1]) if len(parts) >= 4 else self.type
