"""Loopback receivers for notify tests: a real SMTP server (aiosmtpd) and an HTTP receiver (SMS
gateway, webhooks, robots) recording every request."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from steward.devtools.mailsink import MailSink
from steward.kit.db import utcnow

# -- SMTP -------------------------------------------------------------------------------------
SmtpSink = MailSink  # a real SMTP server (aiosmtpd) on loopback, every accepted message in memory


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
