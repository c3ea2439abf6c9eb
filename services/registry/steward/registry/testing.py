"""Test support for the registry: run a real registry (uvicorn + grpc.aio + relay) on loopback ports
against given PostgreSQL/NATS URLs, mint tokens, build tenant trees, read the event stream.

Used by the registry's own tests and by end-to-end tests of services that depend on it."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.js.api import ConsumerConfig, DeliverPolicy

from steward.kit.auth import Principal, Role, mint_dev_token
from steward.kit.db import Database
from steward.kit.migrations import upgrade
from steward.kit.runtime import ServiceRuntime
from steward.kit.testing import serving
from steward.registry.app import build
from steward.registry.rules import service as rules_service
from steward.registry.settings import RegistrySettings
from steward.registry.tenants import service as tenant_service
from steward.registry.tenants.schemas import TenantCreate, TenantKind

SECRET = "test-secret-registry-0123456789abcdef"
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
_codes = itertools.count(random.randint(10, 60) * 100 + 1)


def registry_settings(db_url: str, nats_url: str, **extra: Any) -> RegistrySettings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "nats_url": nats_url,
        "http_port": 0,
        "grpc_port": 0,
        "jwt_dev_secret": SECRET,
        "outbox_poll_seconds": 0.2,
        "timer_poll_seconds": 0.2,
        "log_json": False,
    }
    return RegistrySettings(**{**values, **extra})


@dataclass
class Registry:
    base_url: str
    grpc_target: str
    db: Database
    settings: RegistrySettings
    runtime: ServiceRuntime | None = None
    http: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=10)

    @staticmethod
    def token(tenant: str, *roles: str, sub: str = "tester", unit: str | None = None) -> str:
        return mint_dev_token(
            secret=SECRET, subject=sub, tenant=tenant, roles=list(roles or ["tenant_admin"]), unit=unit
        )

    @staticmethod
    def auth_header(tenant: str, *roles: str, sub: str = "tester", unit: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {Registry.token(tenant, *roles, sub=sub, unit=unit)}"}

    def auth(self, tenant: str, *roles: str, sub: str = "tester", unit: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(tenant, *roles, sub=sub, unit=unit)}"}


@asynccontextmanager
async def running_registry(db_url: str, nats_url: str, **extra: Any) -> AsyncIterator[Registry]:
    """A registry serving on free loopback ports inside the current event loop."""
    settings = registry_settings(db_url, nats_url, **extra)
    app, runtime = build(settings)
    async with serving(app, name="registry") as base_url:
        assert runtime.grpc is not None
        reg = Registry(
            base_url=base_url,
            grpc_target=runtime.grpc.address,
            db=runtime.db,
            settings=settings,
            runtime=runtime,
        )
        try:
            yield reg
        finally:
            await reg.http.aclose()


def migrate(db_url: str) -> str:
    upgrade(MIGRATIONS, db_url)
    return db_url


@dataclass
class Tree:
    city: str
    districts: list[str]
    zone: str
    township: str


async def make_tree(target: Registry | Database, *, rules: dict[str, dict[str, Any]] | None = None) -> Tree:
    """A fresh city with three districts, a zone and a township, with optional per-tenant rules."""
    n = next(_codes)
    if n == 2101:  # 210100 is the demo city, which some suites seed into the same database
        n = next(_codes)
    city = f"{n:04d}00"
    districts = [f"{n:04d}{i:02d}" for i in (2, 3, 12)]
    zone = f"{n:04d}71"
    township = f"{districts[2]}004"
    db = target.db if isinstance(target, Registry) else target
    async with db.transaction() as session:
        await tenant_service.create_root(session, code=city, name=f"测试市{n}")
        admin = Principal(subject="test-setup", tenant=city, roles=frozenset({Role.PLATFORM_ADMIN}))
        for code, kind, parent in [(d, TenantKind.DISTRICT, city) for d in districts] + [
            (zone, TenantKind.ZONE, city),
            (township, TenantKind.TOWNSHIP, districts[2]),
        ]:
            await tenant_service.create_tenant(
                session,
                principal=admin,
                data=TenantCreate(code=code, name=f"测试{code}", kind=kind, parent=parent),
            )
        for code, doc in (rules or {}).items():
            tenant_code = {
                "city": city,
                "d0": districts[0],
                "d1": districts[1],
                "d2": districts[2],
                "zone": zone,
            }.get(code, code)
            await rules_service.put_rules(
                session,
                principal=admin,
                tenant=tenant_code,
                document=doc,
                effective_from=None,
                comment="test",
            )
    return Tree(city=city, districts=districts, zone=zone, township=township)


async def create_project(
    reg: Registry, tenant: str, *, token_tenant: str | None = None, **body: Any
) -> httpx.Response:
    payload = {
        "tenant": tenant,
        "name": body.pop("name", "测试项目"),
        "total_investment": body.pop("total_investment", "1000万"),
    }
    payload.update(body)
    return await reg.http.post(
        "/v1/projects", json=payload, headers=reg.auth(token_tenant or tenant, "dispatcher")
    )


async def project_count(reg: Registry, tenant_prefix: str) -> int:
    async with reg.db.read() as session:
        from sqlalchemy import text

        return int(
            (
                await session.execute(
                    text("SELECT count(*) FROM projects WHERE tenant_code LIKE :p"),
                    {"p": tenant_prefix + "%"},
                )
            ).scalar_one()
        )


class EventTap:
    """Reads the events stream from the start (a fresh ordered consumer on a subject filter)."""

    def __init__(self, nats_url: str) -> None:
        self.nats_url = nats_url

    async def collect(self, subject: str, *, expect: int, wait: float = 10.0) -> list[dict[str, Any]]:
        nc = await nats.connect(self.nats_url)
        try:
            js = nc.jetstream()
            sub = await js.subscribe(
                subject, ordered_consumer=True, config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
            )
            out: list[dict[str, Any]] = []
            deadline = asyncio.get_running_loop().time() + wait
            while len(out) < expect:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    msg = await sub.next_msg(timeout=remaining)
                except (TimeoutError, nats.errors.TimeoutError):
                    break
                body = json.loads(msg.data)
                body["_headers"] = dict(msg.headers or {})
                out.append(body)
            # give duplicates (if any) a moment to show up
            try:
                while True:
                    msg = await sub.next_msg(timeout=0.3)
                    body = json.loads(msg.data)
                    body["_headers"] = dict(msg.headers or {})
                    out.append(body)
            except (TimeoutError, nats.errors.TimeoutError):
                pass
            await sub.unsubscribe()
            return out
        finally:
            await nc.close()
