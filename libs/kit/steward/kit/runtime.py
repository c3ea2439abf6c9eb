"""One service process: FastAPI (REST) + grpc.aio + JetStream subscribers + background workers
(outbox relay, due timers, the service's own workers) in one asyncio loop, started and stopped by
the FastAPI lifespan.

Services compose a runtime, they never subclass it (docs/architecture.md): ``add_grpc``,
``add_subscription``, ``add_timer``, ``add_worker``, ``on_start`` / ``on_stop`` and
``add_readiness`` are the whole wiring surface, and ``runtime.ctx`` (the service's typed context)
is what views reach through ``app.state.ctx``.

Shutdown on SIGTERM (uvicorn delivers it to the lifespan): gRPC health goes NOT_SERVING and the
server drains, workers stop, the outbox is flushed, subscribers drain, then the database closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
import structlog
import uvicorn
from fastapi import FastAPI

from steward.kit import deadletters, devclock, metrics
from steward.kit.accept import BatchAcceptServer
from steward.kit.audit_chain import AuditChainer
from steward.kit.auth import Principal, TokenVerifier
from steward.kit.batches import BatchHandler, BatchSubscription
from steward.kit.bus import EventBus, EventHandler
from steward.kit.calendar import default_calendar, fallback_years_seen
from steward.kit.clock import Clock
from steward.kit.db import Database
from steward.kit.grpc import GrpcServer
from steward.kit.grpc_gate import TenantGateInterceptor
from steward.kit.outbox import OutboxRelay
from steward.kit.overload_http import protocol_for
from steward.kit.settings import ServiceSettings
from steward.kit.telemetry import setup_telemetry
from steward.kit.timers import TimerHandler, TimerWorker

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class GrpcService:
    register: Callable[[grpc.aio.Server], None]
    full_name: str


@dataclass(frozen=True)
class Subscription:
    subject: str
    consumer: str
    handler: EventHandler
    per_replica: bool = False
    skip: Callable[[str], bool] | None = None


Hook = Callable[[], Coroutine[Any, Any, None]]
Check = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Worker:
    """A long-running task of the service: ``run`` is started after the bus and gRPC are up;
    ``stop`` (sync or async) asks it to finish, after which it is given the grace period."""

    name: str
    run: Hook
    stop: Callable[[], Any] | None = None


class ServiceRuntime:
    def __init__(self, settings: ServiceSettings, *, clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.clock: Callable[[], datetime] = clock or Clock()
        self.ctx: Any = None
        trace_sql = settings.trace_sql if settings.trace_sql is not None else bool(settings.otlp_endpoint)
        self.db = Database(settings.database_url, pool_size=settings.database_pool_size, trace_sql=trace_sql)
        self.bus = EventBus(settings)
        self.verifier = TokenVerifier(settings)
        # a token of a tenant the platform does not know: 403 on REST, PERMISSION_DENIED on gRPC
        # (set by the app, e.g. steward.kit.limits.registry_tenant_gate; None: no gate)
        self.tenant_gate: Callable[[Principal], Awaitable[None]] | None = None
        self.relay = OutboxRelay(
            self.db,
            self.bus,
            batch_size=settings.outbox_batch_size,
            poll_seconds=settings.outbox_poll_seconds,
            idle_poll_seconds=settings.outbox_idle_poll_seconds,
            service=settings.service_name,
        )
        self.grpc_services: list[GrpcService] = []
        self.subscriptions: list[Subscription] = []
        self.timer_handlers: dict[str, TimerHandler] = {}
        self.workers: list[Worker] = []
        self._on_start: list[Hook] = []
        self._on_stop: list[Hook] = []
        self._readiness: list[tuple[str, Check]] = []
        self.grpc: GrpcServer | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._worker_tasks: list[asyncio.Task[Any]] = []
        self._timers: TimerWorker | None = None

    # -- wiring ----------------------------------------------------------------------------
    def add_grpc(self, register: Callable[[grpc.aio.Server], None], full_name: str) -> None:
        self.grpc_services.append(GrpcService(register, full_name))

    def add_subscription(
        self,
        subject: str,
        *,
        consumer: str,
        handler: EventHandler,
        per_replica: bool = False,
        skip: Callable[[str], bool] | None = None,
    ) -> None:
        """``skip(subject)`` true: the message is acknowledged unread (not decoded, not handled)."""
        self.subscriptions.append(Subscription(subject, consumer, handler, per_replica, skip))

    def add_batch_subscription(
        self,
        subjects: Sequence[str],
        *,
        consumer: str,
        handler: BatchHandler,
        fetch_batch: int = 256,
        ack_wait: float = 60.0,
        skip: Callable[[str], bool] | None = None,
    ) -> None:
        """A durable consumer on ``subjects`` whose handler takes up to ``fetch_batch`` events at once
        (``steward.kit.batches``); run as a worker, so the batch in hand finishes on shutdown."""
        sub = BatchSubscription(
            self.bus,
            consumer=consumer,
            subjects=subjects,
            handler=handler,
            fetch_batch=fetch_batch,
            ack_wait=ack_wait,
            skip=skip,
        )
        self.add_worker(f"events-{consumer}", sub.run, sub.stop)

    def add_timer(self, kind: str, handler: TimerHandler) -> None:
        self.timer_handlers[kind] = handler

    def add_worker(self, name: str, run: Hook, stop: Callable[[], Any] | None = None) -> None:
        self.workers.append(Worker(name, run, stop))

    def on_start(self, hook: Hook) -> None:
        """Called before the bus connects (open clients bound to the server's loop here)."""
        self._on_start.append(hook)

    def on_stop(self, hook: Hook) -> None:
        """Called after everything else stopped, before the database closes (close clients here)."""
        self._on_stop.append(hook)

    def add_readiness(self, name: str, check: Check) -> None:
        self._readiness.append((name, check))

    # -- readiness -------------------------------------------------------------------------
    async def check_database(self) -> dict[str, Any]:
        await self.db.ping()
        return {}

    async def check_bus(self) -> dict[str, Any]:
        if not self.bus.connected:
            raise RuntimeError("NATS not connected")
        return {}

    async def check_calendar(self) -> dict[str, Any]:
        """Never fails readiness, but says which years deadlines may reach without official data."""
        this_year = datetime.now(UTC).year
        uncovered = default_calendar().uncovered_years(range(this_year, this_year + 2))
        for year in (this_year, this_year + 1):
            metrics.CALENDAR_COVERED.labels(str(year)).set(0 if year in uncovered else 1)
        used = sorted(fallback_years_seen())
        note = (
            f"no official holiday data for {', '.join(map(str, uncovered))}: Mon–Fri fallback plus tenant overrides"
            if uncovered
            else "official holiday data"
        )
        return {"uncovered_years": uncovered, "fallback_years_used": used, "note": note}

    async def check_dead_letters(self) -> dict[str, Any]:
        """Never fails readiness, but says how many of this service's messages wait for a replay."""
        if not self.bus.connected:
            return {}
        counts = await deadletters.waiting(self.bus.js)
        mine = {c: counts.get(c, 0) for c in self.bus.shared_consumers}
        for consumer, count in mine.items():
            metrics.DEAD_LETTERS_WAITING.labels(self.settings.service_name, consumer).set(count)
        try:  # consumer lag for the StewardConsumerLag alert; never fails readiness
            for consumer, pending in (await self.bus.pending()).items():
                metrics.CONSUMER_PENDING.labels(self.settings.service_name, consumer).set(pending)
        except Exception as exc:
            log.debug("runtime.consumer_pending_unavailable", error=str(exc)[:200])
        return {"waiting": mine, "replay": "steward dlq replay <consumer>"} if any(mine.values()) else {}

    def readiness(self) -> list[tuple[str, Any]]:
        return [
            ("database", self.check_database),
            ("nats", self.check_bus),
            ("calendar", self.check_calendar),
            ("dead_letters", self.check_dead_letters),
            *self._readiness,
        ]

    # -- lifecycle -------------------------------------------------------------------------
    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = self
        app.state.verifier = self.verifier
        app.state.db = self.db
        app.state.ctx = self.ctx
        app.state.instance = self.settings.instance_id
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def start(self) -> None:
        s = self.settings
        for hook in self._on_start:
            await hook()
        await self.bus.connect()
        await devclock.follow(self)  # dev mode only: the platform clock (`steward dev clock`)
        for sub in self.subscriptions:
            self.bus.subscribe(
                sub.subject,
                consumer=sub.consumer,
                handler=sub.handler,
                max_deliver=s.consumer_max_deliver,
                per_replica=sub.per_replica,
                skip=sub.skip,
            )
        await self.bus.start()
        self.grpc = GrpcServer(
            service=s.service_name,
            host=s.grpc_host,
            port=s.grpc_port,
            interceptors=[TenantGateInterceptor(self.verifier, lambda: self.tenant_gate)],
        )
        for svc in self.grpc_services:
            self.grpc.add(svc.register, svc.full_name)
        await self.grpc.start()
        if s.outbox_relay_enabled:
            self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        if s.timers_enabled and self.timer_handlers:
            self._timers = TimerWorker(
                self.db,
                self.timer_handlers,
                batch_size=s.timer_batch_size,
                poll_seconds=s.timer_poll_seconds,
                idle_poll_seconds=s.timer_idle_poll_seconds,
                service=s.service_name,
                clock=self.clock,
            )
            self._tasks.append(asyncio.create_task(self._timers.run(), name="timers"))
        if s.audit_chain_seconds > 0:  # the tamper-evident audit trail (steward.kit.audit_chain)
            chainer = AuditChainer(self.db, interval=s.audit_chain_seconds)
            self.workers = [w for w in self.workers if w.name != "audit-chain"]
            self.workers.append(Worker("audit-chain", chainer.run, chainer.stop))
        for worker in self.workers:
            self._worker_tasks.append(asyncio.create_task(worker.run(), name=worker.name))
        log.info("service.started", grpc=self.grpc.address)

    async def stop(self) -> None:
        grace = self.settings.shutdown_grace_seconds
        if self.grpc is not None:
            await self.grpc.stop(grace)
        if self._timers is not None:
            await self._timers.stop()
        await self._stop_workers(grace)
        await self.relay.stop(flush=self.settings.outbox_relay_enabled)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.bus.stop()
        for hook in self._on_stop:
            try:
                await hook()
            except Exception:  # one failing hook must not keep the database open
                log.exception("service.stop_hook_failed")
        await self.db.dispose()
        log.info("service.stopped")

    async def _stop_workers(self, grace: float) -> None:
        for worker in self.workers:
            if worker.stop is not None:
                result = worker.stop()
                if asyncio.iscoroutine(result):
                    await result
        if self._worker_tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*self._worker_tasks, return_exceptions=True), grace)
        for task in self._worker_tasks:
            task.cancel()
        await asyncio.gather(*self._worker_tasks, return_exceptions=True)
        self._worker_tasks.clear()


def settle_heap() -> None:
    """Start-up is over: what exists now (modules, the app, pools, caches) lives as long as the
    process. ``gc.freeze()`` takes it out of the collector's reach, so a full collection walks only
    what was made since. Without it every full collection walked the whole start-up heap (~200,000
    objects): 95–128 ms with the event loop stopped, a few times a minute under load, which was the
    p99 of every request (issue 15)."""
    gc.collect()
    gc.freeze()


def _wake(waker: asyncio.Future[None]) -> None:
    if not waker.done():
        waker.set_result(None)


class _Server(BatchAcceptServer):
    """uvicorn re-raises SIGTERM after its graceful shutdown (exit status -15); a service that shut
    down cleanly exits 0 instead, so supervisors can tell a clean stop from a crash. Once started
    (the lifespan ran, the sockets listen) the start-up heap is settled (:func:`settle_heap`), and
    connections are accepted in batches (:mod:`steward.kit.accept`).

    uvicorn's main loop wakes ten times a second to see whether a signal asked it to stop; here it
    sleeps until the next second (the ``date`` header's update) and a signal wakes it at once.
    """

    _waker: asyncio.Future[None] | None = None

    async def main_loop(self) -> None:
        loop = asyncio.get_running_loop()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 10) % 864000  # on_tick refreshes the date header when counter % 10 == 0
            self._waker = waker = loop.create_future()
            timer = loop.call_later(1.0, _wake, waker)
            try:
                await waker
            finally:
                timer.cancel()
                self._waker = None

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        if (waker := self._waker) is not None:
            waker.get_loop().call_soon_threadsafe(_wake, waker)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            settle_heap()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    """Run the service until SIGTERM/SIGINT (uvicorn runs the lifespan shutdown)."""
    setup_telemetry(settings)
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        server_header=False,  # no "server: uvicorn"
        loop="auto",  # uvloop (a kit dependency) where it is installed, else asyncio
        http=protocol_for(app),  # httptools; refusals under overload answered by the protocol
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        lifespan="on",
    )
    _Server(config).run()
