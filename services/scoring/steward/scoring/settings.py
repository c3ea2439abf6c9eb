"""Scoring settings (environment, prefix ``STEWARD_``)."""

from __future__ import annotations

from pydantic import SecretStr

from steward.kit.settings import ServiceSettings


class ScoringSettings(ServiceSettings):
    service_name: str = "scoring"
    http_port: int = 8104
    grpc_port: int = 9104
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/steward_scoring"
    events_consumer: str = "scoring"
    # signs the one-time survey links (falls back to the dev JWT secret in development)
    survey_link_secret: SecretStr | None = None
    public_base_url: str = "http://127.0.0.1:8104"


SOURCE = "/steward/scoring"
