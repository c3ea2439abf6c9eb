"""Issues settings (environment, prefix ``STEWARD_``)."""

from __future__ import annotations

from pydantic import Field

from steward.kit.settings import ServiceSettings


class IssuesSettings(ServiceSettings):
    service_name: str = "issues"
    http_port: int = 8102
    grpc_port: int = 9102
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/steward_issues"
    gauges_refresh_seconds: float = Field(default=60.0, gt=0)


SOURCE = "/steward/issues"
