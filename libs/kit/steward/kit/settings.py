"""Service settings from the environment (prefix ``STEWARD_``), never from code."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Settings every Steward service shares. Services subclass it for their own keys."""

    model_config = SettingsConfigDict(env_prefix="STEWARD_", extra="ignore", frozen=True)

    service_name: str = "steward"
    environment: str = "dev"
    # this process (``/readyz`` says it, so a runner knows the answer is from the process it started)
    instance_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/steward"
    # a file holding the URL (e.g. a mounted Secret): read at start, it wins over database_url
    database_url_file: Path | None = None
    database_pool_size: int = Field(default=10, ge=1, le=200)
    # one server or a comma-separated list of a cluster's servers ("nats://a:4222,nats://b:4222")
    nats_url: str = "nats://127.0.0.1:4222"
    # between attempts to reach NATS again after the connection was lost (attempts never stop)
    nats_reconnect_wait_seconds: float = Field(default=2.0, gt=0, le=60)

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(default=9090, ge=0, le=65535)

    # events
    events_stream: str = "STEWARD_EVENTS"
    events_subject_prefix: str = "steward.events"
    events_duplicate_window_seconds: float = 120.0
    events_max_age_days: int = 30
    events_max_bytes: int = 1024**3
    # copies JetStream keeps of the platform's streams: 3 on a 3-node cluster (survives one node lost)
    events_stream_replicas: int = Field(default=1, ge=1, le=5)
    # the streams are provisioned by the platform (the chart's jetstream.provision): only look them up
    events_streams_managed: bool = False
    outbox_relay_enabled: bool = True
    outbox_poll_seconds: float = 0.5
    outbox_idle_poll_seconds: float = 30.0  # idle back-off cap while LISTEN/NOTIFY wakes the relay
    outbox_batch_size: int = 200
    consumer_max_deliver: int = 5
    timers_enabled: bool = True
    timer_poll_seconds: float = 1.0
    timer_idle_poll_seconds: float = 5.0  # idle back-off cap; timers armed here or a moved clock wake it
    timer_batch_size: int = 500

    # auth
    jwt_issuer: str = "steward-dev"
    jwt_audience: str = "steward"
    jwt_jwks_url: str | None = None
    jwt_dev_secret: SecretStr | None = None
    jwt_algorithms: list[str] = ["RS256", "ES256", "HS256"]
    # JWKS (steward.kit.auth_keys): a key the IdP removed stops verifying within max_age; an
    # unknown key id fetches the set at once, at most once per min_refetch
    jwt_jwks_max_age_seconds: float = Field(default=300.0, gt=0)
    jwt_jwks_min_refetch_seconds: float = Field(default=1.0, ge=0)
    jwt_jwks_timeout_seconds: float = Field(default=5.0, gt=0)
    # the token this service presents to others (steward.kit.auth_tokens): OAuth2 client
    # credentials when a client id and secret are set; else the static token; else the dev secret
    service_client_id: str | None = None
    service_client_secret: SecretStr | None = None
    service_client_secret_file: Path | None = None  # e.g. a mounted Secret; read at each fetch
    service_token_url: str | None = None  # else the token_endpoint of OIDC discovery
    oidc_discovery_url: str | None = None  # else <jwt_issuer>/.well-known/openid-configuration
    service_token_scope: str | None = None
    service_token_audience: str | None = None  # sent as ``audience`` where the IdP wants one
    service_token_refresh_ratio: float = Field(default=0.8, gt=0, lt=1)
    service_token_timeout_seconds: float = Field(default=5.0, gt=0)
    service_token: SecretStr | None = None

    # security (steward.kit.security, steward.kit.limits, steward.kit.secrets)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)  # larger request bodies get 413
    hsts_seconds: int = Field(default=31_536_000, ge=0)  # Strict-Transport-Security outside dev/test
    metrics_token: SecretStr | None = None  # when set, /metrics needs ``Authorization: Bearer <it>``
    rate_limit_enabled: bool = True
    rate_limit_principal_per_second: float = Field(default=20.0, gt=0)
    rate_limit_principal_burst: int = Field(default=200, ge=1)
    rate_limit_address_per_second: float = Field(default=100.0, gt=0)
    rate_limit_address_burst: int = Field(default=1000, ge=1)
    rate_limit_auth_failures_per_minute: float = Field(default=30.0, gt=0)
    rate_limit_auth_failures_burst: int = Field(default=30, ge=1)
    # loopback clients (tests, benchmarks, the dev runner) are not limited; None = only when the
    # environment is dev or test (a mesh sidecar in production also connects from loopback)
    rate_limit_exempt_loopback: bool | None = None
    # overload (steward.kit.overload): requests one process works on at once (0 = unbounded), and
    # how long a request beyond that may wait for a slot before it is answered 503 overloaded
    http_max_in_flight: int = Field(default=32, ge=0)
    http_queue_seconds: float = Field(default=0.1, ge=0)
    # the limit adapts between these to keep the served requests' median latency under the target
    # (or twice the lowest median seen, when that is higher); 0 keeps the limit fixed at the maximum
    http_min_in_flight: int = Field(default=4, ge=1)
    http_latency_target_seconds: float = Field(default=0.02, ge=0)
    audit_chain_seconds: float = Field(default=5.0, ge=0)  # chain new audit entries; 0 = off
    # Fernet keys that encrypt stored secrets, "kid:key,kid:key" (the first encrypts; all decrypt)
    secrets_keys: SecretStr | None = None

    @model_validator(mode="before")
    @classmethod
    def _database_url_from_file(cls, data: Any) -> Any:
        """``STEWARD_DATABASE_URL_FILE``: the URL from a file (surrounding whitespace dropped)."""
        if isinstance(data, dict) and data.get("database_url_file"):
            url = Path(data["database_url_file"]).read_text(encoding="utf-8").strip()
            if not url:
                raise ValueError(f"database_url_file {data['database_url_file']} is empty")
            data = {**data, "database_url": url}
        return data

    @property
    def nats_servers(self) -> list[str]:
        """The NATS servers of ``nats_url`` (the client connects to any and fails over to the others)."""
        return [u.strip() for u in self.nats_url.split(",") if u.strip()]

    @property
    def is_dev(self) -> bool:
        return self.environment in ("dev", "test")

    # cross-service
    registry_grpc_target: str = "127.0.0.1:9101"
    grpc_call_timeout_seconds: float = 3.0

    # telemetry
    log_level: str = "INFO"
    log_json: bool = True
    otlp_endpoint: str | None = None
    # one line per request (method, route, status, duration, request id, subject, tenant)
    access_log: bool = True
    # a span per SQL statement; by default only when spans are exported (STEWARD_OTLP_ENDPOINT)
    trace_sql: bool | None = None
    shutdown_grace_seconds: float = 10.0

    @property
    def sync_database_url(self) -> str:
        """The URL for tools that want a driver name Alembic knows (kept async: Alembic runs async)."""
        return self.database_url
