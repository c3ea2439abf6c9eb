"""Registry settings (environment, prefix ``STEWARD_``)."""

from __future__ import annotations

from steward.kit.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    service_name: str = "registry"
    http_port: int = 8101
    grpc_port: int = 9101
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/steward_registry"


SOURCE = "/steward/registry"
