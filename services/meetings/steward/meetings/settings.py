"""Meetings settings (environment, prefix ``STEWARD_``)."""

from __future__ import annotations

from pydantic import Field

from steward.kit.settings import ServiceSettings


class MeetingsSettings(ServiceSettings):
    service_name: str = "meetings"
    http_port: int = 8103
    grpc_port: int = 9103
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/steward_meetings"
    issues_grpc_target: str = "127.0.0.1:9102"
    generate_weeks_ahead: int = Field(default=4, ge=1, le=26, description="meetings kept on the calendar")
    generate_every_hours: float = Field(default=24.0, gt=0)
    gauges_refresh_seconds: float = Field(default=60.0, gt=0)


SOURCE = "/steward/meetings"
