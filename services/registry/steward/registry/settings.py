"""Registry settings (environment, prefix ``STEWARD_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from steward.kit.inbound import InboundSystem
from steward.kit.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    service_name: str = "registry"
    http_port: int = 8101
    grpc_port: int = 9101
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/steward_registry"
    # systems that send signed inbound messages (docs/inbound.md): JSON
    # {"<name>": {"secret": "...", "tenant": "<division code>"}}, and/or a mounted JSON file
    inbound_systems: dict[str, InboundSystem] = Field(default_factory=dict)
    inbound_systems_file: Path | None = None
    inbound_tolerance_seconds: int = Field(default=300, ge=10, le=3600)
    # the issues service (matters of the week in the agents' weekly report); unset: not pre-filled
    issues_grpc_target: str | None = None


SOURCE = "/steward/registry"
