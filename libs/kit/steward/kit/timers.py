"""Due timers: rows with a due time, claimed with ``FOR UPDATE SKIP LOCKED``.

Several replicas never fire one timer twice (a claimed row is locked, and it is deleted or
re-armed in the same transaction as the handler's work). The sweep reads only rows that are due,
through the index on ``due_at``: its cost grows with what is due, not with what is scheduled.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
import weakref
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlmodel import Field, SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit import metrics, writes
from steward.kit.db import JSONB, Database, utcnow
from steward.kit.ids import new_id

log = structlog.get_logger(__name__)

# The firing worker's clock while its handlers run (``now()``): a handler written as a plain function
# still sees the service's clock — moved by tests and, in dev mode, by the platform clock.
_FIRING_CLOCK: ContextVar[Callable[[], datetime] | None] = ContextVar("steward_timer_clock", default=None)


def now() -> datetime:
    """The current time for timer handlers: the firing worker's clock, else the wall clock."""
    clock = _FIRING_CLOCK.get()
    return clock() if clock is not None else utcnow()


class DueTimer(SQLModel, table=True):
    __tablename__ = "steward_timers"
    __table_args__ = (sa.UniqueConstraint("kind", "key", name="uq_steward_timers_kind_key"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    kind: str
    key: str
    tenant: str
    due_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, index=True))
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONB, nullable=False))
    attempts: int = 0
    last_error: str | None = None


@dataclass(frozen=True)
class Rearm:
    """Returned by a handler to fire the same timer again at ``due_at`` (e.g. the next reminder)."""

    due_at: datetime
    payload: dict[str, Any] | None = None


TimerHandler = Callable[[AsyncSession, DueTimer], Awaitable[Rearm | None]]
_FAILED = object()


async def schedule(
    session: AsyncSession,
    *,
    kind: str,
    key: str,
    tenant: str,
    due_at: datetime,
    payload: dict[str, Any] | None = None,
) -> None:
    """Arm (or move) the timer ``(kind, key)``; idempotent."""
    values = {
        "id": new_id(),
        "kind": kind,
        "key": key,
        "tenant": tenant,
        "due_at": due_at,
        "payload": payload or {},
        "attempts": 0,
    }
    await writes.insert(session, _TIMERS, values, on_conflict=_MOVE, key=("steward_timers", kind, key))
    for worker in list(_LOCAL_WORKERS):
        worker.armed(due_at)


_TIMERS: sa.Table = DueTimer.__table__  # type: ignore[attr-defined]
_MOVE = (
    "ON CONFLICT ON CONSTRAINT uq_steward_timers_kind_key DO UPDATE SET "
    "due_at = EXCLUDED.due_at, payload = EXCLUDED.payload, tenant = EXCLUDED.tenant"
)


# The workers running in this process: a timer armed here that falls due before a worker's idle
# back-off ends wakes it (it sweeps now, and again after its base poll, by when the arming
# transaction has committed). Deadlines days ahead wake nothing: no cost on the filing path.
_LOCAL_WORKERS: weakref.WeakSet[TimerWorker] = weakref.WeakSet()


async def cancel(session: AsyncSession, *, kind: str, key: str) -> None:
    batch = writes.current(session)
    if batch is not None:  # a timer queued in the batch must exist before it can be deleted
        await batch.execute(session)
    await session.execute(sa.delete(DueTimer).where(col(DueTimer.kind) == kind, col(DueTimer.key) == key))


class TimerWorker:
    """Sweeps due timers and runs the handler registered for each kind."""

    def __init__(
        self,
        db: Database,
        handlers: dict[str, TimerHandler],
        *,
        batch_size: int = 500,
        poll_seconds: float = 1.0,
        idle_poll_seconds: float | None = None,
        service: str = "steward",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.handlers = handlers
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        # nothing due: the wait doubles from poll_seconds up to this (an idle service stays idle);
        # a timer armed in this process or a moved clock wakes the worker at once
        self.idle_poll_seconds = max(poll_seconds, idle_poll_seconds or poll_seconds)
        self._wait = poll_seconds
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sleep_until = 0.0
        self.service = service
        self.clock = clock
        self._stopping = asyncio.Event()

    async def sweep(self) -> int:
        """Fire one batch of due timers; returns how many were handled."""
        now = self.clock()
        firing = _FIRING_CLOCK.set(self.clock)
        try:
            return await self._sweep(now)
        finally:
            _FIRING_CLOCK.reset(firing)

    async def _sweep(self, now: datetime) -> int:
        async with self.db.transaction() as session:
            rows = list(
                (
                    await session.execute(
                        sa.select(DueTimer)
                        .where(col(DueTimer.due_at) <= now, col(DueTimer.kind).in_(list(self.handlers)))
                        .order_by(col(DueTimer.due_at))
                        .limit(self.batch_size)
                        .with_for_update(skip_locked=True)
                    )
                ).scalars()
            )
            if rows:
                await self._fire_batch(session, rows)
        metrics.TIMERS_DUE.labels(self.service).set(len(rows))
        return len(rows)

    async def _fire_batch(self, session: AsyncSession, rows: list[DueTimer]) -> None:
        """Fast path: every handler inside one savepoint, then one DELETE for the timers that are done.
        If any handler fails, the batch's writes are undone and the timers run one by one, each in
        its own savepoint, so only the failing timer backs off."""
        outcomes: list[tuple[DueTimer, Rearm | object | None]]
        try:
            async with session.begin_nested():
                outcomes = [(timer, await self.handlers[timer.kind](session, timer)) for timer in rows]
        except Exception:
            outcomes = [(timer, await self._fire_isolated(session, timer)) for timer in rows]
        done = [timer.id for timer, outcome in outcomes if outcome is None]
        for timer, outcome in outcomes:
            if isinstance(outcome, Rearm):
                timer.due_at = outcome.due_at
                timer.attempts = 0
                if outcome.payload is not None:
                    timer.payload = outcome.payload
            if outcome is not _FAILED:
                metrics.TIMERS_FIRED.labels(self.service, timer.kind, "ok").inc()
        if done:
            await session.execute(sa.delete(DueTimer).where(col(DueTimer.id).in_(done)))

    async def _fire_isolated(self, session: AsyncSession, timer: DueTimer) -> Rearm | object | None:
        handler = self.handlers[timer.kind]
        try:
            async with session.begin_nested():
                return await handler(session, timer)
        except Exception as exc:
            timer.attempts += 1
            timer.last_error = f"{type(exc).__name__}: {exc}"[:500]
            timer.due_at = self.clock() + timedelta(seconds=min(3600, 2**timer.attempts))
            metrics.TIMERS_FIRED.labels(self.service, timer.kind, "error").inc()
            log.warning("timer.failed", kind=timer.kind, key=timer.key, error=timer.last_error)
            return _FAILED

    def armed(self, due_at: datetime) -> None:
        """A timer due at ``due_at`` was armed in this process: wake if it falls due before the
        current wait ends."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            if asyncio.get_running_loop() is not loop:
                return
        except RuntimeError:
            return
        ahead = (due_at - self.clock()).total_seconds()
        if loop.time() + max(ahead, 0.0) < self._sleep_until:
            self.nudge()

    def nudge(self) -> None:
        """Sweep now and poll at the base rate again (safe from any thread)."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed():
            return

        def _wake() -> None:
            self._wait = self.poll_seconds
            wake.set()

        try:
            if asyncio.get_running_loop() is loop:
                _wake()
                return
        except RuntimeError:
            pass
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(_wake)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        _LOCAL_WORKERS.add(self)
        watch = getattr(self.clock, "watch", None)
        unwatch = watch(self.nudge) if callable(watch) else None
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                try:
                    handled = await self.sweep()
                except Exception as exc:
                    handled = 0
                    log.warning("timer.sweep_error", error=str(exc))
                if handled >= self.batch_size:
                    continue
                wait = self._wait
                self._wait = self.poll_seconds if handled else min(wait * 2, self.idle_poll_seconds)
                self._sleep_until = self._loop.time() + wait
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)
                self._sleep_until = 0.0
        finally:
            _LOCAL_WORKERS.discard(self)
            if callable(unwatch):
                unwatch()

    async def stop(self) -> None:
        self._stopping.set()
        if self._wake is not None:
            self._wake.set()
