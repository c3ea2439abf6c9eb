"""The delivery worker: claims due deliveries, sends them concurrently, records the outcome.

Wakes on ``pg_notify('steward_notify_delivery')`` (any replica's fan-out or retry), on a local
nudge, and on a short poll (retries and quiet-hour deferrals come due by time)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from datetime import datetime

import asyncpg
import structlog

from steward.kit.db import Database, asyncpg_dsn, utcnow
from steward.kit.logs import THROTTLED
from steward.kit.transient import is_transient
from steward.notify import metrics
from steward.notify.channels.base import ChannelError, Lease, LeaseLost
from steward.notify.channels.dispatch import Channels
from steward.notify.deliveries import leases, service, timing
from steward.notify.deliveries.fanout import DELIVERY_CHANNEL
from steward.notify.settings import NotifySettings

log = structlog.get_logger(__name__)

RECORD_PATIENCE = 120.0  # seconds recording accepted sends is retried before giving up


class DeliveryWorker:
    def __init__(
        self,
        db: Database,
        settings: NotifySettings,
        channels: Channels,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.settings = settings
        self.channels = channels
        self.clock = clock
        self.limiter = timing.RateLimiter(settings.rate_limit_map, time.monotonic)
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._sem = asyncio.Semaphore(settings.delivery_concurrency)
        self._listener: asyncpg.Connection | None = None
        self._last_gauges = 0.0
        self._wait = settings.delivery_poll_seconds
        self._saturated = False  # the last sweep took all it could: more may be due
        self._sent: list[tuple[service.Outgoing, asyncio.Future[None]]] = []
        self._recorder: asyncio.Task[None] | None = None
        self.recorded_batches = 0  # transactions that recorded sends (the bench reports the ratio)
        self._record_failing = False  # recording sends fails transiently: claim nothing meanwhile
        self.held = leases.Held(db, settings.delivery_lease_seconds)
        self._heartbeat_task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def window(self) -> int:
        """Claimed deliveries this replica holds at most (sending, or queued for a sender)."""
        return max(self.settings.delivery_concurrency * 2, self.settings.delivery_batch_size)

    async def sweep(self) -> int:
        """Claim one batch and start sending it; returns how many were claimed."""
        if self._record_failing:
            return 0  # sent rows wait to be recorded: claiming now would take them again
        free = self.window() - len(self._inflight)
        if free <= 0:
            self._saturated = True
            return 0
        limit = min(free, self.settings.delivery_batch_size)
        since = time.monotonic()  # the leases run from before the claim's statement
        async with self.db.transaction() as session:
            claimed = await service.claim(
                session, now=self.clock(), limit=limit, settings=self.settings, limiter=self.limiter
            )
        self._saturated = len(claimed) >= limit
        for item in claimed:
            lease = self.held.take(item.outgoing.delivery_id, item.outgoing.attempt_id, since)
            task = asyncio.create_task(self._deliver(item, lease))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        return len(claimed)

    async def _deliver(self, item: service.Claimed, lease: Lease | None = None) -> None:
        out = item.outgoing
        if lease is None:
            lease = self.held.take(out.delivery_id, out.attempt_id, item.claimed_at)
        try:
            await self._send_and_record(item, lease)
        finally:
            self.held.release(out.delivery_id)
            # half the window free and more was due: claim again now (not one claim per free slot)
            if self._saturated and len(self._inflight) - 1 <= self.window() // 2:
                self._wake.set()

    async def _send_and_record(self, item: service.Claimed, lease: Lease) -> None:
        out = item.outgoing
        error: str | None = None
        permanent = False
        async with self._sem:
            if self.settings.fault_pause_after_claim_seconds:
                await asyncio.sleep(self.settings.fault_pause_after_claim_seconds)
            for _ in range(3):
                # the heartbeat keeps the lease of a delivery waiting here; it runs short only while
                # the database is unreachable, or when another attempt took the row: renew, or learn
                # it is lost (then this attempt must not send: the other one does)
                if lease.remaining() < self.channels.timeout and not await self._renew(out):
                    return
                try:
                    await self.channels.send(out, lease)
                except LeaseLost as exc:  # waited too long for the SMTP connection: nothing was sent
                    log.info("notify.lease_short_before_send", delivery_id=str(out.delivery_id), why=str(exc))
                    continue
                except ChannelError as exc:
                    error, permanent = str(exc), exc.permanent
                except Exception as exc:  # a sender bug must not kill the worker; retried like any failure
                    error = f"{type(exc).__name__}: {exc}"
                    log.exception("notify.sender_error", delivery_id=str(out.delivery_id))
                break
            else:
                return  # no time to send under this lease: it runs out and the row is claimed again
            if self.settings.fault_pause_after_send_seconds:
                await asyncio.sleep(self.settings.fault_pause_after_send_seconds)
        if error is None:  # recorded with the other sends of the moment, in one transaction
            await self._record_sent(out)
            return
        for attempt in range(5):  # recording the failure must not be lost lightly
            try:
                async with self.db.transaction() as session:
                    status = await service.mark_failed(
                        session,
                        out=out,
                        error=error,
                        permanent=permanent,
                        now=self.clock(),
                        settings=self.settings,
                    )
                log.warning(
                    "notify.delivery_failed",
                    delivery_id=str(out.delivery_id),
                    channel=out.channel,
                    attempt=item.attempts,
                    status=status,
                    error=error,
                )
                return
            except Exception as exc:
                log.warning("notify.mark_failed", delivery_id=str(out.delivery_id), error=str(exc))
                await asyncio.sleep(0.2 * 2**attempt)

    async def _record_sent(self, out: service.Outgoing) -> None:
        """Group commit: the sends accepted while a recording transaction runs are recorded together
        in the next one (three statements for any number); returns once this one is recorded (or
        recording gave up: the attempt stays ``started`` and its lease expires — the documented
        at-least-once window)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sent.append((out, done))
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._record_loop())
        await asyncio.shield(done)

    async def _record_loop(self) -> None:
        linger = self.settings.delivery_record_linger_seconds
        try:
            while self._sent:
                if linger and len(self._sent) < 100 and not self._record_failing:
                    await asyncio.sleep(linger)  # the sends of the next moment join this transaction
                batch, self._sent = self._sent[:1000], self._sent[1000:]
                try:
                    await self._record(batch)
                finally:
                    for _, done in batch:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._record_failing = False  # every send waiting here is recorded (or given up on)

    async def _record(self, batch: list[tuple[service.Outgoing, asyncio.Future[None]]]) -> None:
        """Record accepted sends. While the database is unreachable this keeps trying (briskly, so
        it comes first when the database is back) and the sweep claims nothing until every send
        waiting here is recorded: otherwise it would claim these very rows again once their lease
        ran out and send them a second time. Recording gives up after ``RECORD_PATIENCE`` (or 5
        tries for a failure that is not transient): the attempts stay ``started``, their leases
        expire — the documented at-least-once window."""
        for attempt in itertools.count():
            try:
                async with self.db.transaction() as session:
                    await service.mark_sent_many(
                        session, outs=[o for o, _ in batch], now=self.clock(), settings=self.settings
                    )
                self.recorded_batches += 1
                return
            except Exception as exc:
                transient = is_transient(exc)
                self._record_failing = transient
                THROTTLED.warning(
                    "notify.mark_sent_failed",
                    key=type(exc).__name__,
                    deliveries=len(batch),
                    error=str(exc)[:300],
                )
                waited = sum(min(1.0, 0.1 * 2**i) for i in range(attempt + 1))
                if (not transient and attempt >= 4) or waited > RECORD_PATIENCE:
                    log.error("notify.sends_unrecorded", deliveries=len(batch), error=str(exc)[:300])
                    return
                await asyncio.sleep(min(1.0, 0.1 * 2**attempt))

    async def _renew(self, out: service.Outgoing) -> bool:
        """Renew this one lease now; False when it is lost (or unconfirmed: the database is down)."""
        since = time.monotonic()
        if not await self._still_ours(out):
            return False
        self.held.extended(out.delivery_id, since)
        return True

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.delivery_lease_seconds / 4)
            await self.held.heartbeat(self.clock())

    async def _still_ours(self, out: service.Outgoing) -> bool:
        try:
            async with self.db.transaction() as session:
                ours = await service.renew_lease(session, out=out, now=self.clock(), settings=self.settings)
        except Exception as exc:  # the database is down: not sending is safe, the lease expires
            log.warning("notify.lease_unconfirmed", delivery_id=str(out.delivery_id), error=str(exc))
            return False
        if not ours:
            log.info("notify.lease_lost_before_send", delivery_id=str(out.delivery_id))
        return ours

    async def _gauges(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() - self._last_gauges < 5.0:
            return
        self._last_gauges = loop.time()
        async with self.db.read() as session:
            counts = await service.backlog(session)
        for channel in ("email", "sms", "wecom", "dingtalk", "feishu", "webhook"):
            c = counts.get(channel, {})
            metrics.PENDING.labels(channel).set(c.get("pending", 0))
            metrics.RETRY_BACKLOG.labels(channel).set(c.get("retrying", 0))
            metrics.DEAD_LETTERED.labels(channel).set(c.get("dead", 0))

    async def _listen(self) -> None:
        try:
            self._listener = await asyncpg.connect(asyncpg_dsn(self.db.url))
            await self._listener.add_listener(DELIVERY_CHANNEL, lambda *_: self._wake.set())
        except Exception as exc:
            log.warning("notify.listen_unavailable", error=str(exc))
            self._listener = None

    async def run(self) -> None:
        await self._listen()
        self._heartbeat_task = asyncio.create_task(self._heartbeat())
        try:
            await self._loop()
        finally:
            if not self._stopping.is_set():  # cancelled; stop() cancels it once in-flight sends end
                self._heartbeat_task.cancel()

    async def _loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                claimed = await self.sweep()
                await self._gauges()
                failures = 0
            except Exception as exc:
                claimed, failures = 0, failures + 1
                # the database down for a while: one line per interval with a count, and a poll
                # that backs off (up to 5 s) instead of a line and a failed query every 100 ms
                THROTTLED.warning("notify.sweep_error", key=type(exc).__name__, error=str(exc)[:300])
            if claimed and self._saturated and len(self._inflight) < self.window():
                continue  # took all it asked for, and there is room: more is probably due
            wait = self._next_wait(claimed)
            if failures:
                wait = min(5.0, max(wait, 0.1) * 2 ** min(failures, 6))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    def _next_wait(self, claimed: int) -> float:
        """The base poll while there is work (claimed, in flight, or woken by a fan-out); when idle,
        doubling up to half the smallest retry backoff (so a retry is never late by more than that)
        and ``delivery_idle_poll_seconds`` — an idle notify stays idle (issue 15)."""
        base = self.settings.delivery_poll_seconds
        if claimed or self._inflight or self._wake.is_set() or self._listener is None:
            self._wait = base
            return base
        cap = max(
            base,
            min(self.settings.delivery_idle_poll_seconds, self.settings.delivery_backoff_base_seconds / 2),
        )
        wait, self._wait = self._wait, min(self._wait * 2, cap)
        return min(wait, cap)

    async def stop(self) -> None:
        """Stop claiming; let in-flight sends finish (bounded by the channel timeout)."""
        self._stopping.set()
        self._wake.set()
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=self.settings.shutdown_grace_seconds)
        if self._heartbeat_task is not None:  # renewed until every send above is recorded
            self._heartbeat_task.cancel()
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
            self._listener = None
