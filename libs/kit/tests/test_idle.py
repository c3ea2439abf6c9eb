"""Idle is idle (issue 15, goal 6): with nothing to do, the outbox relay and the timer worker back
off their polling up to a cap, yet real work still gets through at once — a commit's NOTIFY wakes
the relay, a timer armed in this process or a moved clock wakes the timer worker."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.bus import EventBus
from steward.kit.clock import Clock
from steward.kit.db import Database
from steward.kit.ids import new_id
from steward.kit.outbox import OutboxRelay, emit
from steward.kit.timers import DueTimer, TimerWorker, schedule

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class CountingRelay(OutboxRelay):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rounds = 0

    async def publish_pending(self) -> int:
        self.rounds += 1
        return await super().publish_pending()


class CountingWorker(TimerWorker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rounds = 0

    async def sweep(self) -> int:
        self.rounds += 1
        return await super().sweep()


async def _until(check: Any, within: float, message: str) -> float:
    t0 = time.perf_counter()
    while not check():
        if time.perf_counter() - t0 > within:
            raise AssertionError(message)
        await asyncio.sleep(0.01)
    return time.perf_counter() - t0


async def test_an_idle_relay_backs_off_and_a_commit_still_wakes_it_at_once(
    db: Database, bus: EventBus, js: Any, kit: Any, tenant: str
) -> None:
    relay = CountingRelay(db, bus, poll_seconds=0.05, idle_poll_seconds=5.0, service="kit-idle")
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(1.5)
        # without back-off a 0.05 s poll makes ~30 rounds in 1.5 s; doubling makes ≤ 6
        assert relay.rounds <= 8, relay.rounds
        assert relay._wait > relay.poll_seconds
        async with db.transaction() as session:
            await emit(session, kit.Pinged(n=1), tenant=tenant, source="kit-test")
        subject = f"steward.events.{tenant}.kitping.pinged"
        await kit.wait_for(
            lambda: kit.count_messages(js, bus.settings.events_stream, subject),
            timeout=1.0,  # far below the backed-off wait: NOTIFY woke the relay
            message="an event committed while the relay was idle waited for the poll",
        )
        await _until(lambda: relay._wait == relay.poll_seconds, 2.0, "the wait was not reset by work")
    finally:
        await relay.stop(flush=False)
        await asyncio.wait_for(task, timeout=5)


async def test_without_listen_the_relay_keeps_its_base_poll(db: Database, bus: EventBus) -> None:
    relay = CountingRelay(db, bus, poll_seconds=0.05, idle_poll_seconds=5.0, service="kit-idle-nolisten")

    async def no_listen() -> None:
        relay._listener = None

    relay._listen = no_listen  # type: ignore[method-assign]
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(1.0)
        assert relay.rounds >= 8  # the poll is all it has: no back-off
    finally:
        await relay.stop(flush=False)
        await asyncio.wait_for(task, timeout=5)


async def test_an_idle_timer_worker_backs_off_and_wakes_for_a_timer_armed_here(db: Database) -> None:
    fired: list[float] = []

    async def on_due(session: AsyncSession, timer: DueTimer) -> None:
        fired.append(time.perf_counter())

    worker = CountingWorker(
        db, {"idle.kind": on_due}, poll_seconds=0.05, idle_poll_seconds=10.0, clock=lambda: NOW
    )
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(2.0)  # sweeps at 0, .05, .15, .35, .75, 1.55 s; the next one at 3.15 s
        assert worker.rounds <= 8, worker.rounds
        rounds = worker.rounds
        async with db.transaction() as session:  # a deadline days ahead: no wake, no extra sweep
            await schedule(session, kind="idle.kind", key="later", tenant="t", due_at=NOW + timedelta(days=3))
        await asyncio.sleep(0.1)
        assert worker.rounds == rounds
        t0 = time.perf_counter()
        async with db.transaction() as session:
            await schedule(session, kind="idle.kind", key="k1", tenant="t", due_at=NOW)
        await _until(lambda: bool(fired), 2.0, "a timer armed in this process waited for the idle poll")
        assert fired[0] - t0 < 2.0
    finally:
        await worker.stop()
        await asyncio.wait_for(task, timeout=5)


async def test_moving_the_clock_wakes_an_idle_timer_worker(db: Database) -> None:
    fired: list[str] = []

    async def on_due(session: AsyncSession, timer: DueTimer) -> None:
        fired.append(timer.key)

    async with db.transaction() as session:  # armed elsewhere (another replica): no local nudge
        await session.execute(
            sa.insert(DueTimer).values(
                id=new_id(),
                kind="idle.clock",
                key="k2",
                tenant="t",
                due_at=NOW + timedelta(days=1),
                payload={},
            )
        )
    clock = Clock()
    clock.set(NOW)
    worker = CountingWorker(
        db, {"idle.clock": on_due}, poll_seconds=0.05, idle_poll_seconds=30.0, clock=clock
    )
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(1.5)  # backed off well beyond a second
        clock.advance(timedelta(days=2))
        await _until(lambda: fired == ["k2"], 2.0, "moving the clock did not wake the worker")
    finally:
        await worker.stop()
        await asyncio.wait_for(task, timeout=5)
    assert worker._wake is not None and not clock._watchers  # stopped watching
