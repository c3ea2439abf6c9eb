"""The outbox relay's loop against real PostgreSQL and NATS JetStream: woken by NOTIFY long before
its poll, the backlog gauges (exported, and counted once a second while events flow, not per
batch), and stopping with or without a flush (docs/architecture.md)."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import REGISTRY

from steward.kit.bus import EventBus
from steward.kit.db import Database
from steward.kit.outbox import OutboxRelay, emit


class ProbeRelay(OutboxRelay):
    """Signals each backlog count (the relay counts it before it goes idle), so a test knows the
    relay went idle, and counts its rounds."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.iterations = self.rounds = 0
        self.idle = asyncio.Event()

    async def publish_pending(self) -> int:
        published = await super().publish_pending()
        self.rounds += 1
        return published

    async def backlog(self) -> tuple[int, float]:
        result = await super().backlog()
        self.iterations += 1
        self.idle.set()
        return result


async def test_run_wakes_on_notify_long_before_the_poll_interval(
    db: Database, bus: EventBus, js: Any, kit: Any, tenant: str
) -> None:
    relay = ProbeRelay(db, bus, poll_seconds=30.0, service="kit-wake")
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.wait_for(relay.idle.wait(), timeout=10)
        assert relay._listener is not None, "the relay should LISTEN for outbox notifications"
        await asyncio.sleep(0.05)  # the loop is now parked in its 30 s wait
        async with db.transaction() as session:
            event = await emit(session, kit.Pinged(n=1), tenant=tenant, source="kit-test")
        subject = f"steward.events.{tenant}.kitping.pinged"
        # correctness of the wake-up, not a speed target: without NOTIFY this would take 30 s
        await kit.wait_for(
            lambda: kit.count_messages(js, bus.settings.events_stream, subject),
            timeout=5,
            message="event emitted while the relay was idle was not published (NOTIFY wake-up broken?)",
        )
        [msg] = await kit.read_messages(js, bus.settings.events_stream, subject, expected=1)
        assert kit.headers(msg)["Nats-Msg-Id"] == event.id
        await kit.wait_for(lambda: relay.rounds >= 2, timeout=5, message="relay loop did not complete")
        assert REGISTRY.get_sample_value("steward_outbox_backlog", {"service": "kit-wake"}) == 0
    finally:
        await relay.stop(flush=False)
        await asyncio.wait_for(task, timeout=5)
    assert relay._listener is None


async def test_run_exports_backlog_metrics(db: Database, kit: Any, tenant: str) -> None:
    class Down:
        async def publish_event(self, **_: Any) -> None:
            raise ConnectionError("nats down")

    await kit.emit_many(db, tenant, 4)
    relay = ProbeRelay(db, Down(), poll_seconds=30.0, service="kit-backlog")
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.wait_for(relay.idle.wait(), timeout=10)
        assert REGISTRY.get_sample_value("steward_outbox_backlog", {"service": "kit-backlog"}) == 4
        age = REGISTRY.get_sample_value("steward_outbox_oldest_age_seconds", {"service": "kit-backlog"})
        assert age is not None and age >= 0
    finally:
        await relay.stop(flush=False)
        await asyncio.wait_for(task, timeout=5)


async def test_stop_with_flush_publishes_pending_rows(
    db: Database, bus: EventBus, js: Any, kit: Any, tenant: str
) -> None:
    ids = await kit.emit_many(db, tenant, 450)  # more than one batch
    relay = OutboxRelay(db, bus, batch_size=200)
    await relay.stop(flush=True)
    assert await kit.pending_rows(db) == 0
    subject = f"steward.events.{tenant}.>"
    assert await kit.count_messages(js, bus.settings.events_stream, subject) == len(ids)


async def test_stop_without_flush_leaves_rows_pending(
    db: Database, bus: EventBus, kit: Any, tenant: str
) -> None:
    await kit.emit_many(db, tenant, 3)
    relay = OutboxRelay(db, bus)
    await relay.stop(flush=False)
    assert await kit.pending_rows(db) == 3


class FlowingRelay(OutboxRelay):
    """Each of the first 20 batches publishes one event; with ``wake`` the next commit's NOTIFY
    arrives meanwhile (commits faster than the relay), without it the next commit comes after the
    relay went to wait (filings paced below what it can do: one event per wake-up)."""

    def __init__(self, *args: Any, wake: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wake = wake
        self.batches = self.backlogs = self.counted_at = 0
        self.while_flowing = -1  # backlog queries during the 20 batches that published
        self.done = asyncio.Event()

    async def publish_pending(self) -> int:
        self.batches += 1
        if self.batches <= 20:
            if self.wake:
                self._wake.set()
            return 1
        if not self.done.is_set():
            self.while_flowing = self.backlogs
            self.done.set()
        return 0

    async def backlog(self) -> tuple[int, float]:
        self.backlogs += 1
        self.counted_at = self.batches
        return await super().backlog()


async def _flow(relay: FlowingRelay) -> None:
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.wait_for(relay.done.wait(), timeout=10)
        await asyncio.sleep(0.2)
    finally:
        await relay.stop(flush=False)
        await asyncio.wait_for(task, timeout=5)
    assert relay.batches >= 21


async def test_while_events_flow_the_backlog_is_not_counted_per_batch(db: Database, bus: EventBus) -> None:
    """The backlog gauges cost a query (a transaction: three round trips, each a turn of a busy
    event loop): while commits keep waking the relay it counts once a second, not once per batch,
    and always once before it waits."""
    relay = FlowingRelay(db, bus, poll_seconds=30.0, service="kit-flow")
    await _flow(relay)
    assert 2 <= relay.backlogs < 10, f"{relay.backlogs} backlog queries for {relay.batches} batches"


async def test_events_paced_one_per_batch_are_not_counted_per_batch(db: Database, bus: EventBus) -> None:
    """At 150 filings/s the relay woke for each commit and counted the backlog each time: half a
    query per filing. Now a round that published counts it once a second; the first round that
    finds nothing counts it before the relay goes idle, so the gauges are fresh then."""
    relay = FlowingRelay(db, bus, wake=False, poll_seconds=0.01, service="kit-paced")
    await _flow(relay)
    assert 0 <= relay.while_flowing < 10, f"{relay.while_flowing} backlog queries for 20 batches of one"
    assert relay.counted_at >= 21  # counted after a round that found nothing
