"""Test support for notify: a real notify in-process (or as a subprocess, for kill -9 tests) on
loopback ports, a real SMTP server (aiosmtpd), a loopback HTTP receiver (SMS gateway, webhooks,
robots), a registry scenario with a project and roster, and realistic ``matter.*`` CloudEvents."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from email.message import Message
from pathlib import Path
from typing import Any, ClassVar

import httpx
import nats
import uvicorn
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from steward.events.envelope import CloudEvent, EventData
from steward.kit.auth import mint_dev_token
from steward.kit.db import Database, utcnow
from steward.kit.migrations import upgrade
from steward.kit.outbox import build_event
from steward.notify.app import build
from steward.notify.runtime import NotifyRuntime
from steward.notify.settings import NotifySettings

SECRET = "test-secret-registry-0123456789abcdef"  # the registry harness's secret: one token for both
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def migrate(db_url: str) -> str:
    upgrade(MIGRATIONS, db_url)
    return db_url


def token(tenant: str, *roles: str, sub: str = "tester") -> str:
    return mint_dev_token(secret=SECRET, subject=sub, tenant=tenant, roles=list(roles or ["tenant_admin"]))


def auth(tenant: str, *roles: str, sub: str = "tester") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(tenant, *roles, sub=sub)}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- SMTP -------------------------------------------------------------------------------------
class SmtpSink:
    """A real SMTP server (aiosmtpd) on loopback, recording every accepted message."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content, policy=email_policy.default)
        with self._lock:
            self.messages.append(msg)
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if address in str(m.get("To", ""))]

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


# -- HTTP receiver ----------------------------------------------------------------------------
@dataclass
class Received:
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    at: datetime

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpSink:
    """Loopback HTTP receiver: records requests; ``fail[path] = status`` makes that path fail."""

    requests: list[Received] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)
    replies: dict[str, Any] = field(default_factory=dict)
    base_url: str = ""

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def accepted(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path and getattr(r, "_status", 200) < 300]

    async def _handle(self, request: Request) -> JSONResponse:
        body = await request.body()
        rec = Received(request.url.path, request.url.query, dict(request.headers), body, utcnow())
        status = self.fail.get(request.url.path, 200)
        rec._status = status  # type: ignore[attr-defined]
        self.requests.append(rec)
        return JSONResponse(
            self.replies.get(request.url.path, {"errcode": 0, "code": 0, "ok": True}), status_code=status
        )

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST", "GET", "PUT"])])


@asynccontextmanager
async def serve_app(app: Any) -> AsyncIterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve())
    for _ in range(400):
        if server.started or task.done():
            break
        await asyncio.sleep(0.02)
    if not server.started:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
        raise RuntimeError("server did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def http_sink() -> AsyncIterator[HttpSink]:
    sink = HttpSink()
    async with serve_app(sink.app()) as url:
        sink.base_url = url
        yield sink


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
    runtime: NotifyRuntime
    http: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=10)


@asynccontextmanager
async def running_notify(settings: NotifySettings) -> AsyncIterator[Notify]:
    app, runtime = build(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve())
    for _ in range(400):
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)
    if not server.started:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
        raise RuntimeError("notify did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    n = Notify(base_url=f"http://127.0.0.1:{port}", db=runtime.db, settings=settings, runtime=runtime)
    try:
        yield n
    finally:
        await n.http.aclose()
        server.should_exit = True
        await task


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


# -- events -----------------------------------------------------------------------------------
class MatterOverdue(EventData):
    """The shape the issues service publishes for ``matter.overdue`` (extra fields tolerated by notify)."""

    model_config: ClassVar[Any] = {"extra": "allow", "frozen": True}
    aggregate: ClassVar[str] = "matter"
    event: ClassVar[str] = "overdue"

    matter_id: str
    number: str
    kind: str = "obstacle"
    title: str
    tier: str = "unit"
    category: str | None = None
    project_id: str
    tenant: str
    responsible_unit_id: str | None = None
    responsible_person_id: str | None = None
    reporter: str | None = None
    deadline: datetime


def matter_overdue(
    *,
    tenant: str,
    project_id: str,
    unit_id: str,
    title: str = "施工许可办理受阻：消防设计审查意见未反馈",
    **extra: Any,
) -> CloudEvent:
    data = MatterOverdue(
        matter_id=extra.pop("matter_id", "0195aa00-0000-7000-8000-00000000a001"),
        number=extra.pop("number", "TX-2026-0042"),
        title=title,
        project_id=project_id,
        tenant=tenant,
        responsible_unit_id=unit_id,
        reporter=extra.pop("reporter", "u-enterprise-contact"),
        deadline=utcnow() - timedelta(hours=2),
        **extra,
    )
    return build_event(
        data, tenant=tenant, source="/steward/issues", subject=data.matter_id, actor="service:issues"
    )


def generic_event(tenant: str, short_type: str, data: dict[str, Any]) -> CloudEvent:
    aggregate, _, name = short_type.partition(".")
    from steward.kit.ids import new_id

    return CloudEvent(
        id=str(new_id()),
        source="/steward/test",
        type=f"steward.{aggregate}.{name}.v1",
        time=utcnow(),
        tenant=tenant,
        data=data,
    )


async def publish(nats_url: str, event: CloudEvent, *, msg_id: str | None = None) -> None:
    """Publish like the kit relay does (``Nats-Msg-Id`` = event id; pass another ``msg_id`` to get
    past the stream's duplicate window and simulate a redelivery)."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        aggregate, _, name = event.short_type.partition(".")
        await js.publish(
            f"steward.events.{event.tenant}.{aggregate}.{name}",
            event.model_dump_json(exclude_none=True).encode(),
            headers={"Nats-Msg-Id": msg_id or event.id, "content-type": "application/cloudevents+json"},
        )
    finally:
        await nc.close()


async def wait_for(predicate: Any, *, within: float = 20.0, interval: float = 0.05) -> Any:
    """Poll an async predicate until it returns a truthy value (no timing assertions)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(interval)


# -- registry scenario ------------------------------------------------------------------------
@dataclass
class Scenario:
    tenant: str
    city: str
    other_district: str
    project_id: str
    unit_id: str
    agent: dict[str, Any]
    steward: dict[str, Any]
    districts: list[str] = field(default_factory=list)
    township: str = ""


def overdue_rules(**notify: Any) -> dict[str, Any]:
    """Anyang's 五个一 roster (it has an ``agent`` role) and routes sending overdue matters to the
    assignee in the inbox and by email."""
    from steward.rules import preset_override

    doc = preset_override("anyang")
    doc["notify"] = {
        "routes": [
            {
                "event_type": "matter.overdue",
                "recipients": ["assignee"],
                "channels": ["inbox", "email"],
                "severity": "warning",
            },
            {"event_type": "matter.resolved", "recipients": ["reporter", "assignee"], "channels": ["inbox"]},
        ],
        **notify,
    }
    return doc


async def scenario(reg: Any, *, rules: dict[str, Any] | None = None, tag: str = "") -> Scenario:
    """A new city; district d0 with the given rules, a department, an agent (email, phone, login)
    in it, a steward, a project and its roster."""
    from steward.registry.testing import create_project, make_tree

    tree = await make_tree(reg, rules={"d0": rules or overdue_rules()})
    d = tree.districts[0]
    admin = reg.auth(d, "tenant_admin")
    unit = (
        await reg.http.post(
            "/v1/units",
            json={"tenant": d, "kind": "department", "name": f"住房和城乡建设局{d}{tag}"},
            headers=admin,
        )
    ).json()
    agent = (
        await reg.http.post(
            "/v1/people",
            json={
                "tenant": d,
                "name": "李代办",
                "unit_id": unit["id"],
                "email": f"agent-{d}@example.gov.cn",
                "phone": "13912345678",
                "subject": f"u-agent-{d}",
                "wecom_id": f"lidaiban{d}",
            },
            headers=admin,
        )
    ).json()
    steward = (
        await reg.http.post(
            "/v1/people",
            json={
                "tenant": d,
                "name": "王管家",
                "email": f"steward-{d}@example.gov.cn",
                "subject": f"u-steward-{d}",
            },
            headers=admin,
        )
    ).json()
    r = await create_project(reg, d, name="铁西重装产业园二期", total_investment="2.5亿")
    assert r.status_code == 201, r.text
    project = r.json()
    hdr = reg.auth(d, "dispatcher")
    r = await reg.http.post(
        f"/v1/projects/{project['id']}/roster",
        json={"role_key": "agent", "person_id": agent["id"]},
        headers=hdr,
    )
    assert r.status_code == 201, r.text
    return Scenario(
        tenant=d,
        city=tree.city,
        other_district=tree.districts[1],
        project_id=project["id"],
        unit_id=unit["id"],
        agent=agent,
        steward=steward,
        districts=tree.districts,
        township=tree.township,
    )
