"""Bounded in-flight work per process: when a replica already works on
``STEWARD_HTTP_MAX_IN_FLIGHT`` requests, a new one waits at most ``STEWARD_HTTP_QUEUE_SECONDS`` for
a slot (FIFO, at most as many waiting as there are slots) and is otherwise answered
``503 overloaded`` with ``Retry-After`` at once.

Without a bound, a replica offered more than it can serve accepts everything, every request gets
a share of the CPU, and all of them get slow together (issue 15: 24/s served of 200/s offered,
p99 20 s). With it, the served ones keep their latency and the rest are refused quickly, so a
client or load balancer retries elsewhere or later. ``/healthz``, ``/readyz`` and ``/metrics`` are
never refused (a busy replica is not a dead one). ``STEWARD_HTTP_MAX_IN_FLIGHT=0`` turns it off.

The bound adapts: ``STEWARD_HTTP_MAX_IN_FLIGHT`` is its ceiling, ``STEWARD_HTTP_MIN_IN_FLIGHT`` its
floor, and between them, while requests are being refused, it follows the latency of the served
requests (:class:`Gate`), so that under overload a served request waits behind a few others, not
behind 32: a fixed 32 in flight on a replica serving 300/s is already about 100 ms per request
before any queueing (bench/README.md, ``processes``, the overload rows).
``STEWARD_HTTP_LATENCY_TARGET_SECONDS=0`` keeps the limit fixed.

Most refusals are the HTTP server's own (:mod:`steward.kit.overload_http`): it asks the gate
(:meth:`Gate.reserve`) as soon as a request's headers are in, and for a request it lets through the
gate holds a place until the request's task arrives, so that requests read in the same turn of the
event loop do not all pass, to be refused one by one by the application. A request is refused on
arrival, too, when at the pace requests have been finishing while others waited it would not reach
a slot within ``STEWARD_HTTP_QUEUE_SECONDS``: it would wait out its budget and be refused anyway.
Under four times the sustainable rate (Poisson arrivals, bench/README.md), about half the refusals
had come after the application had taken the request in; with both, hardly any do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections import deque
from typing import Any

from fastapi import FastAPI
from prometheus_client import Counter, Gauge
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from steward.kit.security import settings_of

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

OVERLOAD_REFUSED = Counter(
    "steward_http_overload_refused_total", "Requests answered 503 overloaded (no slot in time)", ["service"]
)
IN_FLIGHT = Gauge("steward_http_in_flight", "HTTP requests being served by this process", ["service"])
LIMIT = Gauge(
    "steward_http_in_flight_limit", "Requests this process serves at once now (adaptive limit)", ["service"]
)


RECOVERED_SECONDS = 1.0  # no refusal for this long: the limit goes back to its ceiling
RESERVED_SECONDS = 1.0  # a place held by the HTTP server for a request that never came is let go
RESERVED = "steward.gate.reserved"  # the scope key of a request the HTTP server held a place for


class Gate:
    """A counting gate with a bounded FIFO of waiters and a wait budget.

    With ``target`` > 0 the limit adapts (between ``floor`` and ``limit``) while the gate is
    shedding — refusing requests, i.e. more arrive than the replica serves — to the latency of what
    it serves, from admission to the end of the response (the wait for a slot not included; a
    stream's slot is given back when it starts, without a sample): after each window of completions
    with refusals in it, a median above ``max(target, 2 × baseline)`` cuts the limit by a quarter,
    and a median under three quarters of that grows it a little; a window without a refusal grows
    it back towards ``limit``, and a second without any refusal restores it at once (a replica
    whose overload has passed gets few completions to count: its next clients must not find it
    still at the floor). So a replica that is merely slow (a few clients on a busy machine, a
    slow database) is never throttled for it: only when requests must be refused anyway are the
    ones served kept fast. The baseline is what a request takes with nothing else running, or at
    the floor (the least that runs while shedding): the lowest such median, drifting slowly up to
    follow a change that lasts — requests slow by nature (waiting on I/O) take as long at the floor
    as at the ceiling, so the limit grows back; requests that share a CPU get faster with fewer
    running, so it settles where they take about twice what they take at the floor. The median and
    not a high percentile: a few long imports beside many short requests are not overload."""

    def __init__(
        self,
        limit: int,
        *,
        queue_seconds: float = 0.0,
        max_waiting: int | None = None,
        target: float = 0.0,
        floor: int = 4,
    ) -> None:
        self.max_limit = limit
        self.limit = limit
        self.queue_seconds = queue_seconds
        self._max_waiting = max_waiting  # None: as many as the current limit
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.target = target
        self.floor = max(1, min(floor, limit))
        self.baseline = 0.0
        self._window: list[float] = []
        self._uncontended: list[float] = []
        self.refused = 0  # refusals in the current window
        self._last_refusal = 0.0
        # seconds between completions while requests wait for a slot (a moving average): how fast a
        # waiter moves up the queue, so one that could not get a slot within the budget is refused
        # on arrival instead of after waiting it out
        self.pace = 0.0
        self._last_done = 0.0  # when the last request finished with others waiting (0: none were)
        self._paced_at = 0.0  # when the pace was last measured
        # places held by the HTTP server (:meth:`reserve`) for requests not at the gate yet, as the
        # times they were held: a request's ASGI task starts after its headers are read, and by then
        # the others read in the same turn of the event loop must count too
        self._reserved: deque[float] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @property
    def max_waiting(self) -> int:
        return self.limit if self._max_waiting is None else self._max_waiting

    def _recover(self) -> None:
        if self.limit < self.max_limit or self.pace:
            now = time.monotonic()
            if self.pace and now - self._paced_at > RECOVERED_SECONDS:
                self.pace = 0.0  # nobody waited for a while: learnt again at the next queue
            if self.limit < self.max_limit and now - self._last_refusal > RECOVERED_SECONDS:
                # nothing refused for a while: the overload is over, whatever came (or did not) since
                self.limit = self.max_limit
                self._hand_over()

    def _in_transit(self) -> int:
        """Requests the HTTP server held a place for that have not reached the gate yet."""
        reserved = self._reserved
        if reserved:
            stale = time.monotonic() - RESERVED_SECONDS
            while reserved and reserved[0] < stale:  # never came (not seen with uvicorn)
                reserved.popleft()
        return len(reserved)

    def _full(self) -> bool:
        """No slot free now (the places held counted in) and no room to wait for one, or none that
        would come within the budget: at the pace requests have been finishing while others
        waited, the ones ahead and this one would take longer than ``queue_seconds`` to reach a
        slot. Such a request would wait out its budget and be refused anyway, after the application
        had taken it in."""
        transit = self._in_transit()
        if self.active + transit < self.limit and not self._waiters:
            return False
        if self.queue_seconds <= 0:
            return True
        queued = len(self._waiters) + max(0, transit - max(0, self.limit - self.active))
        if queued >= self.max_waiting:
            return True
        return self.pace * (queued + 1) > self.queue_seconds

    def reserve(self) -> bool:
        """For the HTTP server, as soon as a request's headers are in: False when the request is
        refused at once (counted as a refusal); True with a place held for it until it reaches
        :meth:`acquire` (``reserved=True``), which then lets it wait rather than refuse it."""
        self._recover()
        if self._full():
            self._refusing()
            return False
        self._reserved.append(time.monotonic())
        return True

    async def acquire(self, *, reserved: bool = False) -> bool:
        """True with a slot held (release it), False when none came free within the budget;
        ``reserved``: the HTTP server held a place for the request (:meth:`reserve`), so it waits
        for a slot rather than being refused at once."""
        if reserved and self._reserved:
            self._reserved.popleft()
        self._recover()
        if self.active < self.limit and not self._waiters:
            self.active += 1
            return True
        if not reserved and self._full():
            self._refusing()
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
                self._refusing()
                return False
            raise
        return True  # a slot was handed to this waiter (counted in ``active``)

    def _refusing(self) -> None:
        self.refused += 1
        self._last_refusal = time.monotonic()

    def release(self, elapsed: float | None = None, *, uncontended: bool = False) -> None:
        """Give the slot back; ``elapsed``: the request's latency, for the adaptive limit, and
        ``uncontended``: it ran alone (or at the floor), admitted without waiting."""
        self.active -= 1
        if self._waiters:
            now = time.monotonic()
            if self._last_done:
                # one stall (a long request, a pause of the process) moves it by a sixteenth of the
                # budget at most
                gap = min(now - self._last_done, self.queue_seconds or now - self._last_done)
                self.pace = gap if not self.pace else self.pace + (gap - self.pace) / 16
                self._paced_at = now
            self._last_done = now
        else:
            self._last_done = 0.0
        if elapsed is not None and self.target > 0:
            self._observe(elapsed, uncontended)
        self._hand_over()

    def _hand_over(self) -> None:
        while self._waiters and self.active < self.limit:
            fut = self._waiters.popleft()
            if not fut.done():
                self.active += 1
                fut.set_result(None)  # the slot passes straight to the oldest waiter

    def _observe(self, elapsed: float, uncontended: bool) -> None:
        window = self._window
        window.append(elapsed)
        if uncontended:
            self._uncontended.append(elapsed)
        if len(window) < max(self.limit, 16):
            return
        median = _median(window)
        if len(self._uncontended) >= 3:
            low = _median(self._uncontended)
            if not self.baseline or low < self.baseline:
                self.baseline = low
            else:
                self.baseline += (low - self.baseline) * 0.05
        shedding, self.refused = self.refused > 0, 0
        window.clear()
        self._uncontended.clear()
        threshold = max(self.target, 2 * self.baseline)
        if not shedding:
            self.limit = min(self.max_limit, self.limit + max(1, self.limit // 4))
        elif median > threshold:
            self.limit = max(self.floor, self.limit * 3 // 4)
        elif median < threshold * 0.75:
            self.limit = min(self.max_limit, self.limit + max(1, self.limit // 8))
        self._hand_over()  # a grown limit has room for the waiters now

    def _discard(self, fut: asyncio.Future[None]) -> None:
        with contextlib.suppress(ValueError):
            self._waiters.remove(fut)


def _median(values: list[float]) -> float:
    values.sort()
    return values[len(values) // 2]


class OverloadMiddleware:
    """Pure ASGI, in front of the application (:class:`GatedFastAPI`): a refusal costs no span, no access-log line, no token
    check and no body parsing (under overload most requests are refused, and what refusing costs is
    taken from the requests being served). It still carries a request id (the caller's
    ``X-Request-ID`` or a new one) and is counted in ``steward_http_overload_refused_total``."""

    def __init__(self, app: ASGIApp, service: str, *, owner: Any = None) -> None:
        self.app = app
        self.service = service
        self.owner = owner  # the application whose settings apply (else the scope's "app")
        self._gate: Gate | None = None
        self._resolved = False

    def _gate_for(self, scope: Scope) -> Gate | None:
        if not self._resolved:
            settings = settings_of(self.owner if self.owner is not None else scope["app"])
            if settings.http_max_in_flight > 0:
                self._gate = Gate(
                    settings.http_max_in_flight,
                    queue_seconds=settings.http_queue_seconds,
                    target=settings.http_latency_target_seconds,
                    floor=settings.http_min_in_flight,
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
        start = time.perf_counter()
        if not await gate.acquire(reserved=RESERVED in scope):
            OVERLOAD_REFUSED.labels(self.service).inc()
            await _refuse(scope, send)
            return
        admitted = time.perf_counter()
        # what a request takes with nothing else running (or at the floor: the least that can run
        # while shedding), admitted without waiting for its slot
        uncontended = admitted - start < 0.001 and (gate.active <= 1 or gate.limit <= gate.floor)
        gauge = IN_FLIGHT.labels(self.service)
        gauge.inc()
        held = True

        def let_go(elapsed: float | None) -> None:
            nonlocal held
            if held:
                held = False
                gauge.dec()
                gate.release(elapsed, uncontended=uncontended)
                LIMIT.labels(self.service).set(gate.limit)

        async def sending(message: Message) -> None:
            # a stream (Server-Sent Events: the inbox, the console's live view) is open for as long as
            # a page is: its slot is given back once it starts, and its lifetime is no latency
            if message["type"] == "http.response.start" and _is_stream(message):
                let_go(None)
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            # the time it was served (its wait for a slot is not the replica's speed: counted in, a
            # full queue would keep the median up and the limit at its floor on a replica whose
            # requests are fast, e.g. waiting on I/O)
            let_go(time.perf_counter() - admitted)


def _is_stream(message: Message) -> bool:
    return any(
        k.lower() == b"content-type" and v.startswith(b"text/event-stream")
        for k, v in message.get("headers", ())
    )


_REFUSAL_BODY_HEAD = (
    json.dumps(
        {
            "error": {
                "code": "overloaded",
                "message": "this replica is at capacity; retry shortly",
                "details": [],
            }
        }
    )[:-2].encode()
    + b', "request_id": '
)


def refusal_body(request_id: str) -> bytes:
    """The JSON error of a refusal (here and in :mod:`steward.kit.overload_http`): ``code``,
    ``message``, ``details`` and ``request_id``, the rest of it built once."""
    return _REFUSAL_BODY_HEAD + json.dumps(request_id).encode() + b"}}"


# after content-type and content-length; then the request id
REFUSAL_HEADERS = (
    (b"retry-after", b"1"),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
)


def new_request_id(headers: Any) -> str:
    """The caller's ``X-Request-ID`` (up to 128 characters) or a new one."""
    incoming = next((v for k, v in headers or () if k == b"x-request-id"), b"")
    return incoming.decode("latin-1")[:128] or secrets.token_hex(16)  # as uuid4().hex, a fifth of the CPU


async def _refuse(scope: Scope, send: Send) -> None:
    request_id = new_request_id(scope.get("headers"))
    body = refusal_body(request_id)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *REFUSAL_HEADERS,
        (b"x-request-id", request_id.encode("latin-1")),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class GatedFastAPI(FastAPI):
    """FastAPI with the overload gate in front of everything, Starlette's own middleware included: a
    refusal under overload then costs only the HTTP server's parsing and one small response (about a
    fifth less CPU per refusal than as the outermost user middleware, measured). Served by
    :func:`steward.kit.runtime.serve`, a request refused at once does not even reach it: the HTTP
    server's protocol asks the gate and answers (:mod:`steward.kit.overload_http`)."""

    def __init__(self, *args: Any, service: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.overload_gate = OverloadMiddleware(super().__call__, service, owner=self)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.overload_gate(scope, receive, send)
