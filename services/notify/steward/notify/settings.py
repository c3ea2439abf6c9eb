"""Notify settings (environment, prefix ``STEWARD_``)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from steward.kit.settings import ServiceSettings


class NotifySettings(ServiceSettings):
    service_name: str = "notify"
    http_port: int = 8105
    grpc_port: int = 9105
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/steward_notify"

    # consumer
    notify_consumer: str = "notify"
    # events per pull (one transaction for the batch's fan-out)
    notify_fetch_batch: int = Field(default=256, ge=1, le=2000)
    notify_ack_wait_seconds: float = Field(default=60.0, gt=0)
    # the consumer's subject filter: every aggregate of the event catalogue but notify's own
    # ``delivery`` (JetStream never hands those to notify); off = ``<prefix>.>`` and a subject check
    notify_filter_by_catalogue: bool = True
    notify_timezone: str = "Asia/Shanghai"
    public_base_url: str = "http://127.0.0.1:8105"

    # delivery worker
    delivery_poll_seconds: float = Field(default=0.5, gt=0)
    delivery_idle_poll_seconds: float = Field(default=5.0, gt=0)  # idle back-off cap (NOTIFY wakes it)
    delivery_batch_size: int = Field(default=100, ge=1, le=1000)
    delivery_concurrency: int = Field(default=16, ge=1, le=256)
    delivery_max_attempts: int = Field(default=6, ge=1, le=50)
    # accepted sends are recorded together: the recorder waits this long for more to join (one
    # transaction for many instead of one per send; the at-least-once window grows by as much)
    delivery_record_linger_seconds: float = Field(default=0.05, ge=0, le=1.0)
    delivery_backoff_base_seconds: float = Field(default=10.0, gt=0)
    delivery_backoff_max_seconds: float = Field(default=3600.0, gt=0)
    # A claimed delivery whose worker died is taken again after this lease. Channel timeouts are
    # kept below it so a live worker never loses its lease while sending.
    delivery_lease_seconds: float = Field(default=60.0, gt=0)
    # per-channel rate limits (messages per second, per replica); e-mail goes over a few reused SMTP
    # connections at up to 500/s by default: lower it to what the relay accepts
    rate_limits: str = "email=500,sms=5,wecom=3,dingtalk=3,feishu=3,webhook=50"

    # email (SMTP)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_use_tls: bool = False
    smtp_from: str = "项目管家 <noreply@steward.local>"
    smtp_message_id_domain: str = "steward.notify"
    # SMTP connections at most, each opened when messages wait for one and then reused
    smtp_connections: int = Field(default=4, ge=1, le=32)

    # SMS gateway (generic JSON POST); unset = SMS deliveries fail with 'channel_not_configured'
    sms_gateway_url: str | None = None
    sms_gateway_token: SecretStr | None = None
    sms_sign_name: str = "项目管家"

    # outbound webhooks (agency subscriptions, robots, tenant webhooks)
    webhook_allow_http: bool = False
    webhook_allow_hosts: str = ""  # comma separated host globs allowed even on private addresses
    webhook_deny_hosts: str = ""  # comma separated host globs always refused
    webhook_deny_private: bool = True
    webhook_only_allowed_hosts: bool = False
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)

    # fault injection for crash tests only: sleep this long after a claim is committed
    fault_pause_after_claim_seconds: float = 0.0
    fault_pause_after_send_seconds: float = 0.0

    @staticmethod
    def _split(value: str) -> list[str]:
        return [h.strip().lower() for h in value.split(",") if h.strip()]

    @property
    def allow_hosts(self) -> list[str]:
        return self._split(self.webhook_allow_hosts)

    @property
    def deny_hosts(self) -> list[str]:
        return self._split(self.webhook_deny_hosts)

    @property
    def rate_limit_map(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for item in self._split(self.rate_limits):
            name, _, value = item.partition("=")
            if value:
                out[name.strip()] = float(value)
        return out


SOURCE = "/steward/notify"
