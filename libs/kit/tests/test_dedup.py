"""Idempotent consumers: the inbox table keyed by (consumer, event id) (docs/architecture.md)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from steward.events.envelope import CloudEvent
from steward.kit.bus import EventBus
from steward.kit.db import Database
from steward.kit.dedup import ConsumedEvent, first_delivery
from steward.kit.outbox import OutboxRelay, emit
from steward.kit.settings import ServiceSettings


async def test_first_delivery_is_true_once_per_consumer_and_event(db: Database) -> None:
    event_id = uuid.uuid4()
    async with db.transaction() as session:
        assert await first_delivery(session, consumer="notify", event_id=event_id) is True
    async with db.transaction() as session:
        assert await first_delivery(session, consumer="notify", event_id=event_id) is False
        assert await first_delivery(session, consumer="notify", event_id=str(event_id)) is False
    async with db.transaction() as session:  # another consumer is independent
        assert await first_delivery(session, consumer="scoring", event_id=str(event_id)) is True
    async with db.transaction() as session:  # another event for the same consumer too
        assert await first_delivery(session, consumer="notify", event_id=uuid.uuid4()) is True
    async with db.read() as session:
        count = (await session.execute(sa.select(sa.func.count()).select_from(ConsumedEvent))).scalar_one()
    assert count == 3


async def test_rolled_back_handler_does_not_consume_the_event(db: Database) -> None:
    event_id = uuid.uuid4()
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            assert await first_delivery(session, consumer="notify", event_id=event_id)
            raise RuntimeError("handler failed after recording the delivery")
    async with db.transaction() as session:
        assert await first_delivery(session, consumer="notify", event_id=event_id) is True


async def test_malformed_event_id_is_rejected(db: Database) -> None:
    async with db.transaction() as session:
        with pytest.raises(ValueError):
            await first_delivery(session, consumer="notify", event_id="not-a-uuid")


async def test_concurrent_deliveries_only_one_wins(db: Database, db_url: str) -> None:
    """Two replicas receive the same event at once: exactly one sees a first delivery."""
    event_id = uuid.uuid4()
    other = Database(db_url, pool_size=2)
    gate = asyncio.Event()

    async def handle(database: Database) -> bool:
        async with database.transaction() as session:
            first = await first_delivery(session, consumer="notify", event_id=event_id)
            await gate.wait()
            return first

    try:
        t1 = asyncio.create_task(handle(db))
        t2 = asyncio.create_task(handle(other))
        await asyncio.sleep(0.2)  # both inserts issued; the second blocks on the first's row
        gate.set()
        results = await asyncio.wait_for(asyncio.gather(t1, t2), timeout=10)
    finally:
        await other.dispose()
    assert sorted(results) == [False, True]


async def test_idempotent_consumer_end_to_end(
    db: Database, bus: EventBus, settings: ServiceSettings, kit: Any, tenant: str
) -> None:
    """Outbox → JetStream → durable consumer → inbox + business row in one transaction.

    The first delivery commits and then fails before the ack (a crash between commit and ack): the
    redelivered event is recognised by the inbox and the business row is not doubled.
    """
    consumer = f"kit_inbox_{uuid.uuid4().hex[:8]}"
    calls: list[str] = []

    async def handler(event: CloudEvent) -> None:
        calls.append(event.id)
        async with db.transaction() as session:
            if await first_delivery(session, consumer=consumer, event_id=event.id):
                await session.execute(
                    sa.insert(kit.widgets).values(event_id=uuid.UUID(event.id), note=f"n={event.data['n']}")
                )
        if len(calls) == 1:
            raise ConnectionError("lost the connection before the ack")

    async with db.transaction() as session:
        event = await emit(session, kit.Pinged(n=3), tenant=tenant, source="kit-test")
    assert await OutboxRelay(db, bus).publish_pending() == 1

    consumer_bus = EventBus(settings)
    consumer_bus.subscribe(f"steward.events.{tenant}.>", consumer=consumer, handler=handler, max_deliver=5)
    await consumer_bus.start()
    try:
        await kit.wait_for(
            lambda: len(calls) >= 2, timeout=10, message=f"event delivered {len(calls)} time(s)"
        )
        await asyncio.sleep(0.3)
    finally:
        await consumer_bus.stop()

    assert calls == [event.id, event.id]
    async with db.read() as session:
        rows = (await session.execute(sa.select(kit.widgets.c.event_id, kit.widgets.c.note))).all()
    assert rows == [(uuid.UUID(event.id), "n=3")]
