"""Loopback receivers for notify tests: a real SMTP server (aiosmtpd) and an HTTP receiver (SMS
gateway, webhooks, robots) recording every request."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email import policy as email_policy
from email.message import Message
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from steward.devtools.procs import free_port
from steward.kit.db import utcnow


# -- SMTP -------------------------------------------------------------------------------------
class SmtpSink:
    """A real SMTP server (aiosmtpd) on loopback, recording every accepted message."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[Message] = []
        self.delay = 0.0  # seconds each message takes to be accepted (a slow mail server)
        self._lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
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
