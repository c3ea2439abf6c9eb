"""Bounded in-flight work per process: when a replica already works on
``STEWARD_HTTP_MAX_IN_FLIGHT`` requests, a new one waits at most ``STEWARD_HTTP_QUEUE_SECONDS`` for
a slot (FIFO, at most as many waiting as there are slots) and is otherwise answered
``503 overloaded`` with ``Retry-After`` at once.

Without a bound, a replica offered more than it can serve accepts everything, every request gets
a share of the CPU, and all of them get slow together (issue 15: 24/s served of 200/s offered,
p99 20 s). With it, the served ones keep their latency and the rest are refused quickly, so a
client or load balancer retries elsewhere or later. ``/healthz``, ``/readyz`` and ``/metrics`` are
never refused (a busy replica is not a dead one). ``STEWARD_HTTP_MAX_IN_FLIGHT=0`` turns it off.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import deque
from typing import Any

from prometheus_client import Counter, Gauge
from starlette.types import ASGIApp, Receive, Scope, Send

from steward.kit.security import settings_of

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

OVERLOAD_REFUSED = Counter(
    "steward_http_overload_refused_total", "Requests answered 503 overloaded (no slot in time)", ["service"]
)
IN_FLIGHT = Gauge("steward_http_in_flight", "HTTP requests being served by this process", ["service"])


class Gate:
    """A counting gate with a bounded FIFO of waiters and a wait budget."""

    def __init__(self, limit: int, *, queue_seconds: float = 0.0, max_waiting: int | None = None) -> None:
        self.limit = limit
        self.queue_seconds = queue_seconds
        self.max_waiting = limit if max_waiting is None else max_waiting
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> bool:
        """True with a slot held (release it), False when none came free within the budget."""
        if self.active < self.limit and not self._waiters:
            self.active += 1
            return True
        if self.queue_seconds <= 0 or len(self._waiters) >= self.max_waiting:
            return False
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await asyncio.wait_for(fut, self.queue_seconds)
        except BaseException as exc:
            if fut.done() and not fut.cancelled():
                self.release()  # the slot was handed over just as the wait ended: pass it on
            else:
                self._discard(fut)
            if isinstance(exc, TimeoutError):
                return False
            raise
        return True  # release() handed its slot to this waiter (active unchanged)

    def release(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # the slot passes straight to the oldest waiter
                return
        self.active -= 1

    def _discard(self, fut: asyncio.Future[None]) -> None:
        with contextlib.suppress(ValueError):
            self._waiters.remove(fut)


class OverloadMiddleware:
    """Pure ASGI, the outermost middleware: a refusal costs no span, no access-log line, no token
    check and no body parsing (under overload most requests are refused, and what refusing costs is
    taken from the requests being served). It still carries a request id (the caller's
    ``X-Request-ID`` or a new one) and is counted in ``steward_http_overload_refused_total``."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        self._gate: Gate | None = None
        self._resolved = False

    def _gate_for(self, scope: Scope) -> Gate | None:
        if not self._resolved:
            settings = settings_of(scope["app"])
            if settings.http_max_in_flight > 0:
                self._gate = Gate(
                    settings.http_max_in_flight,
                    queue_seconds=settings.http_queue_seconds,
                    max_waiting=settings.http_max_in_flight,
                )
            self._resolved = True
        return self._gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "") in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        gate = self._gate_for(scope)
        if gate is None:
            await self.app(scope, receive, send)
            return
        if not await gate.acquire():
            OVERLOAD_REFUSED.labels(self.service).inc()
            await _refuse(scope, send)
            return
        gauge = IN_FLIGHT.labels(self.service)
        gauge.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            gauge.dec()
            gate.release()


async def _refuse(scope: Scope, send: Send) -> None:
    incoming = next((v for k, v in scope.get("headers") or () if k == b"x-request-id"), b"")
    request_id = incoming.decode("latin-1")[:128] or uuid.uuid4().hex
    error: dict[str, Any] = {
        "code": "overloaded",
        "message": "this replica is at capacity; retry shortly",
        "details": [],
        "request_id": request_id,
    }
    body = json.dumps({"error": error}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", b"1"),
        (b"x-request-id", request_id.encode("latin-1")),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})
