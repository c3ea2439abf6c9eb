"""Test support for the scoring service: run a real scoring replica (uvicorn + grpc.aio + relay +
the event consumer) on loopback ports against given PostgreSQL/NATS and a running registry, with a
clock the test moves; publish raw events onto the bus the way other services do."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import nats

from steward.kit.auth import mint_dev_token
from steward.kit.clock import Clock
from steward.kit.db import Database
from steward.kit.ids import new_id
from steward.kit.migrations import upgrade
from steward.kit.runtime import ServiceRuntime
from steward.kit.testing import serving
from steward.scoring.app import build
from steward.scoring.settings import ScoringSettings

SECRET = "test-secret-registry-0123456789abcdef"  # the registry harness's secret: one dev IdP
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc,arg-type]


def migrate(db_url: str) -> str:
    upgrade(MIGRATIONS, db_url)
    return db_url


def scoring_settings(db_url: str, nats_url: str, registry_target: str, **extra: Any) -> ScoringSettings:
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
    return ScoringSettings(**values)


def token(tenant: str, *roles: str, sub: str = "tester") -> str:
    return mint_dev_token(secret=SECRET, subject=sub, tenant=tenant, roles=list(roles or ["tenant_admin"]))


def auth(tenant: str, *roles: str, sub: str = "tester") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(tenant, *roles, sub=sub)}"}


def cloud_event(
    short: str,
    tenant: str,
    data: dict[str, Any],
    *,
    at: datetime,
    event_id: str | None = None,
    source: str = "/steward/issues",
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id or str(new_id()),
        "source": source,
        "type": f"steward.{short}.v1",
        "time": at.isoformat(),
        "tenant": tenant,
        "datacontenttype": "application/json",
        "data": data,
    }


async def publish(nats_url: str, event: dict[str, Any], *, msg_id: str | None = None) -> None:
    """Publish one event to the events stream (``msg_id`` None: no de-duplication by the stream)."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        aggregate, name = event["type"].split(".")[1:3]
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        await js.publish(
            f"steward.events.{event['tenant']}.{aggregate}.{name}",
            json.dumps(event).encode(),
            headers=headers,
        )
    finally:
        await nc.close()


@dataclass
class Scoring:
    base_url: str
    grpc_target: str
    db: Database
    runtime: ServiceRuntime
    clock: Clock
    http: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=30)


@asynccontextmanager
async def running_scoring(
    db_url: str, nats_url: str, registry_target: str, *, clock: Clock | None = None, **extra: Any
) -> AsyncIterator[Scoring]:
    clock = clock or Clock()
    settings = scoring_settings(db_url, nats_url, registry_target, **extra)
    app, runtime = build(settings, clock=clock)
    async with serving(app, name="scoring") as base_url:
        assert runtime.grpc is not None
        svc = Scoring(
            base_url=base_url, grpc_target=runtime.grpc.address, db=runtime.db, runtime=runtime, clock=clock
        )
        try:
            yield svc
        finally:
            await svc.http.aclose()


async def wait_for(predicate: Any, *, timeout: float = 20.0, every: float = 0.1) -> Any:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        await asyncio.sleep(every)
