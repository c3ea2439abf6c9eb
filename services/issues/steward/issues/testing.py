"""Test support for the issues service: run real issues replicas (uvicorn + grpc.aio + relay + timer
sweeper) on loopback ports against given PostgreSQL/NATS and a running registry, with a clock the
test moves. Used by the issues tests, the benchmark and end-to-end tests of other services."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from steward.issues.app import build
from steward.issues.settings import IssuesSettings
from steward.kit.auth import mint_dev_token
from steward.kit.clock import Clock
from steward.kit.db import Database
from steward.kit.migrations import upgrade
from steward.kit.runtime import ServiceRuntime
from steward.kit.testing import serving

SECRET = "test-secret-registry-0123456789abcdef"  # the registry harness's secret: one dev IdP
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    """A datetime in Asia/Shanghai: ``local(2026, 9, 29, 10)``."""
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc,arg-type]


def migrate(db_url: str) -> str:
    upgrade(MIGRATIONS, db_url)
    return db_url


def issues_settings(db_url: str, nats_url: str, registry_target: str, **extra: Any) -> IssuesSettings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "nats_url": nats_url,
        "registry_grpc_target": registry_target,
        "http_port": 0,
        "grpc_port": 0,
        "jwt_dev_secret": SECRET,
        "outbox_poll_seconds": 0.2,
        "timer_poll_seconds": 0.2,
        "log_json": False,
    }
    values.update(extra)
    return IssuesSettings(**values)


def token(tenant: str, *roles: str, sub: str = "tester", unit: str | None = None) -> str:
    return mint_dev_token(
        secret=SECRET, subject=sub, tenant=tenant, roles=list(roles or ["tenant_admin"]), unit=unit
    )


def auth(tenant: str, *roles: str, sub: str = "tester", unit: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(tenant, *roles, sub=sub, unit=unit)}"}


@dataclass
class Issues:
    base_url: str
    grpc_target: str
    db: Database
    runtime: ServiceRuntime
    clock: Clock
    http: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=30)


@asynccontextmanager
async def running_issues(
    db_url: str, nats_url: str, registry_target: str, *, clock: Clock | None = None, **extra: Any
) -> AsyncIterator[Issues]:
    """One issues replica serving on free loopback ports inside the current event loop."""
    clock = clock or Clock()
    settings = issues_settings(db_url, nats_url, registry_target, **extra)
    app, runtime = build(settings, clock=clock)
    async with serving(app, name="issues") as base_url:
        assert runtime.grpc is not None
        svc = Issues(
            base_url=base_url,
            grpc_target=runtime.grpc.address,
            db=runtime.db,
            runtime=runtime,
            clock=clock,
        )
        try:
            yield svc
        finally:
            await svc.http.aclose()


async def wait_for(predicate: Any, *, timeout: float = 30.0, every: float = 0.1) -> Any:  # noqa: ASYNC109
    """Poll an async predicate until it returns something truthy (or fail after ``timeout``)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        await asyncio.sleep(every)
