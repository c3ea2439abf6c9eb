"""A real notify for tests: in-process on loopback ports, or as a subprocess (kill -9 tests);
settings, tokens and migrations."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from steward.devtools.procs import free_port
from steward.kit.auth import mint_dev_token
from steward.kit.db import Database
from steward.kit.migrations import upgrade
from steward.kit.runtime import ServiceRuntime
from steward.kit.testing import serving
from steward.notify.app import build
from steward.notify.settings import NotifySettings

SECRET = "test-secret-registry-0123456789abcdef"  # the registry harness's secret: one token for both
MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"


def migrate(db_url: str) -> str:
    upgrade(MIGRATIONS, db_url)
    return db_url


def token(tenant: str, *roles: str, sub: str = "tester") -> str:
    return mint_dev_token(secret=SECRET, subject=sub, tenant=tenant, roles=list(roles or ["tenant_admin"]))


def auth(tenant: str, *roles: str, sub: str = "tester") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(tenant, *roles, sub=sub)}"}


# -- notify -----------------------------------------------------------------------------------
def notify_settings(
    db_url: str,
    nats_url: str,
    registry_target: str,
    *,
    smtp_port: int = 25,
    sms_url: str | None = None,
    **extra: Any,
) -> NotifySettings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "nats_url": nats_url,
        "registry_grpc_target": registry_target,
        "http_port": 0,
        "grpc_port": 0,
        "jwt_dev_secret": SECRET,
        "outbox_poll_seconds": 0.2,
        "timer_poll_seconds": 0.2,
        "delivery_poll_seconds": 0.1,
        "delivery_backoff_base_seconds": 0.2,
        "delivery_backoff_max_seconds": 2.0,
        "delivery_lease_seconds": 3.0,
        "delivery_max_attempts": 4,
        "rate_limits": "",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "sms_gateway_url": sms_url,
        "webhook_allow_http": True,
        "webhook_allow_hosts": "127.0.0.1,localhost",
        "log_json": False,
        "shutdown_grace_seconds": 3.0,
    }
    values.update(extra)
    return NotifySettings(**values)


@dataclass
class Notify:
    base_url: str
    db: Database
    settings: NotifySettings
    runtime: ServiceRuntime
    http: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=10)


@asynccontextmanager
async def running_notify(settings: NotifySettings) -> AsyncIterator[Notify]:
    app, runtime = build(settings)
    async with serving(app, name="notify") as base_url:
        n = Notify(base_url=base_url, db=runtime.db, settings=settings, runtime=runtime)
        try:
            yield n
        finally:
            await n.http.aclose()


class NotifyProcess:
    """``python -m steward.notify serve`` as a child process (for kill -9 tests)."""

    def __init__(self, settings: NotifySettings, **env_overrides: str) -> None:
        self.settings = settings
        self.http_port = free_port()
        self.env_overrides = env_overrides
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path: str | None = os.environ.get("STEWARD_TEST_NOTIFY_LOG")

    def env(self) -> dict[str, str]:
        s = self.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
        values = s.model_dump(mode="json")
        for key, value in values.items():
            if value is None:
                continue
            if key in ("jwt_dev_secret", "smtp_password", "sms_gateway_token", "service_token"):
                continue
            env[f"STEWARD_{key.upper()}"] = (
                json.dumps(value) if isinstance(value, list | dict) else str(value)
            )
        env["STEWARD_JWT_DEV_SECRET"] = SECRET
        env["STEWARD_HTTP_PORT"] = str(self.http_port)
        env["STEWARD_GRPC_PORT"] = str(free_port())
        env.update(self.env_overrides)
        return env

    def start(self) -> None:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "steward.notify", "serve"], env=self.env(), stdout=log, stderr=log
        )

    async def wait_ready(self, within: float = 30.0) -> None:
        deadline = asyncio.get_running_loop().time() + within
        async with httpx.AsyncClient() as client:
            while asyncio.get_running_loop().time() < deadline:
                assert self.proc is not None and self.proc.poll() is None, "notify exited early"
                with contextlib.suppress(httpx.HTTPError):
                    r = await client.get(f"http://127.0.0.1:{self.http_port}/readyz")
                    if r.status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError("notify subprocess not ready")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL
        self.proc.wait(10)

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
