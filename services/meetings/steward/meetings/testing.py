"""Test support for the meetings service: run a real meetings replica (uvicorn + grpc.aio + relay)
on loopback ports against given PostgreSQL/NATS, a running registry and a running issues service,
with a clock the test moves and timers swept by hand (``sweep()``). Used by the meetings tests,
the benchmark and end-to-end tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from steward.kit.auth import mint_dev_token
from steward.kit.clock import Clock
from steward.kit.db import Database
from steward.kit.migrations import upgrade
from steward.kit.runtime import ServiceRuntime
from steward.kit.testing import serving
from steward.kit.timers import TimerWorker
from steward.meetings.app import build
from steward.meetings.settings import MeetingsSettings

SECRET = "test-secret-registry-0123456789abcdef"  # the registry harness's secret: one dev IdP
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    """A datetime in Asia/Shanghai: ``local(2026, 9, 29, 10)``."""
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc,arg-type]


def migrate(db_url: str) -> str:
    upgrade(MIGRATIONS, db_url)
    return db_url


def meetings_settings(
    db_url: str, nats_url: str, registry_target: str, issues_target: str, **extra: Any
) -> MeetingsSettings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "nats_url": nats_url,
        "registry_grpc_target": registry_target,
        "issues_grpc_target": issues_target,
        "http_port": 0,
        "grpc_port": 0,
        "jwt_dev_secret": SECRET,
        "outbox_poll_seconds": 0.2,
        "timer_poll_seconds": 0.2,
        "timers_enabled": False,  # tests sweep by hand, on the test clock
        "log_json": False,
    }
    values.update(extra)
    return MeetingsSettings(**values)


def token(tenant: str, *roles: str, sub: str = "tester", unit: str | None = None) -> str:
    return mint_dev_token(
        secret=SECRET, subject=sub, tenant=tenant, roles=list(roles or ["tenant_admin"]), unit=unit
    )


def auth(tenant: str, *roles: str, sub: str = "tester", unit: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(tenant, *roles, sub=sub, unit=unit)}"}


@dataclass
class Meetings:
    base_url: str
    grpc_target: str
    db: Database
    runtime: ServiceRuntime
    clock: Clock
    http: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=30)

    async def sweep(self) -> int:
        """Fire every timer due on the service clock (until none is left); returns how many fired."""
        worker = TimerWorker(self.db, self.runtime.timer_handlers, clock=self.clock, service="meetings-test")
        total = 0
        while (n := await worker.sweep()) > 0:
            total += n
        return total


@asynccontextmanager
async def running_meetings(
    db_url: str,
    nats_url: str,
    registry_target: str,
    issues_target: str,
    *,
    clock: Clock | None = None,
    **extra: Any,
) -> AsyncIterator[Meetings]:
    """One meetings replica serving on free loopback ports inside the current event loop."""
    clock = clock or Clock()
    settings = meetings_settings(db_url, nats_url, registry_target, issues_target, **extra)
    app, runtime = build(settings, clock=clock)
    async with serving(app, name="meetings") as base_url:
        assert runtime.grpc is not None
        svc = Meetings(
            base_url=base_url, grpc_target=runtime.grpc.address, db=runtime.db, runtime=runtime, clock=clock
        )
        try:
            yield svc
        finally:
            await svc.http.aclose()
