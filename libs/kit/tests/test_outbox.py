"""Transactional outbox and its relay against real PostgreSQL and NATS JetStream (docs/architecture.md)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import REGISTRY

from steward.events.envelope import CloudEvent
from steward.kit import outbox as outbox_module
from steward.kit.bus import EventBus
from steward.kit.db import Database
from steward.kit.outbox import HELD, OutboxEvent, OutboxRelay, emit
from steward.kit.testing import Greenlets, RoundTrips


class Boom(RuntimeError):
    pass


class RecordingPublisher:
    """Delegates to the real bus and records, in the order asked, every msg id it was asked to
    publish (and did not refuse), and how many publishes were in flight at most."""

    def __init__(self, bus: EventBus, *, fail_ids: set[str] | None = None) -> None:
        self.bus = bus
        self.fail_ids = fail_ids or set()
        self.sent: list[str] = []
        self.in_flight = self.most_in_flight = 0

    async def publish_event(self, *, subject: str, body: bytes, msg_id: str, headers: dict[str, str]) -> None:
        if msg_id in self.fail_ids:
            raise Boom(f"cannot publish {msg_id}")
        self.sent.append(msg_id)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.bus.publish_event(subject=subject, body=body, msg_id=msg_id, headers=headers)
        finally:
            self.in_flight -= 1
        await asyncio.sleep(0)  # let a concurrent relay interleave


async def test_emit_writes_a_row_in_the_callers_transaction(db: Database, kit: Any, tenant: str) -> None:
    async with db.transaction() as session:
        event = await emit(session, kit.Pinged(n=7), tenant=tenant, source="kit-test", actor="u1")
    async with db.transaction() as session:
        rows = list((await session.execute(sa.select(OutboxEvent))).scalars())
    assert len(rows) == 1
    row = rows[0]
    assert str(row.id) == event.id
    assert row.subject == f"steward.events.{tenant}.kitping.pinged"
    assert row.type == "steward.kitping.pinged.v1"
    assert row.tenant == tenant
    assert row.published_at is None
    assert row.payload["data"] == {"n": 7}
    assert row.payload["actor"] == "u1"
    assert uuid.UUID(event.id).version == 7


async def test_rolled_back_transaction_writes_no_event(db: Database, kit: Any, tenant: str) -> None:
    with pytest.raises(Boom):
        async with db.transaction() as session:
            await emit(session, kit.Pinged(n=1), tenant=tenant, source="kit-test")
            await session.flush()  # the row reached the database before the rollback
            raise Boom("business rule failed after the event was recorded")
    async with db.read() as session:
        count = (await session.execute(sa.select(sa.func.count()).select_from(OutboxEvent))).scalar_one()
    assert count == 0


async def test_relay_publishes_with_msg_id_subject_and_cloudevent_body(
    db: Database, bus: EventBus, js: Any, kit: Any, tenant: str
) -> None:
    async with db.transaction() as session:
        event = await emit(session, kit.Pinged(n=42), tenant=tenant, source="kit-test", subject="p-1")
    relay = OutboxRelay(db, bus, service="kit-test")
    assert await relay.publish_pending() == 1
    assert await kit.pending_rows(db) == 0

    subject = f"steward.events.{tenant}.kitping.pinged"
    [msg] = await kit.read_messages(js, bus.settings.events_stream, subject, expected=1)
    assert msg.subject == subject
    headers = kit.headers(msg)
    assert headers["Nats-Msg-Id"] == event.id
    assert headers["content-type"] == "application/cloudevents+json"
    body = json.loads(msg.data)
    assert body["specversion"] == "1.0"
    ce = CloudEvent.model_validate(body)
    assert ce.id == event.id
    assert ce.type == "steward.kitping.pinged.v1"
    assert ce.source == "kit-test"
    assert ce.subject == "p-1"
    assert ce.tenant == tenant
    assert ce.data == {"n": 42}
    assert ce.short_type == "kitping.pinged"


async def test_a_relay_round_sends_its_statements_straight_to_the_driver(
    db: Database, bus: EventBus, kit: Any, tenant: str
) -> None:
    """No session: the round's transaction and statements go straight through asyncpg on a pooled
    connection (``kit.pooled.driver_transaction``); the only greenlet is the pool's checkout (5 when
    both statements went through SQLAlchemy's execute, 3 with a session around them)."""
    relay = OutboxRelay(db, bus, service="kit-test")
    for n in (1, 2):
        async with db.transaction() as session:
            await emit(session, kit.Pinged(n=n), tenant=tenant, source="kit-test")
        with Greenlets() as counted:
            assert await relay.publish_pending() == 1
        assert len(counted.started) <= 1, f"{len(counted.started)} greenlets for one relay round"
    assert await kit.pending_rows(db) == 0


async def test_a_round_stopped_while_publishing_leaves_its_rows_pending(
    db: Database, bus: EventBus, kit: Any, tenant: str
) -> None:
    """The relay cancelled while its batch is on the way (a shutdown without flush): the round's
    transaction rolls back, so every row of the batch is pending again for the next round."""
    ids = await kit.emit_many(db, tenant, 3, per_tx=3)
    started = asyncio.Event()

    class Stuck:
        async def publish_event(self, **_: Any) -> None:
            started.set()
            await asyncio.Event().wait()

    round_ = asyncio.create_task(OutboxRelay(db, Stuck(), service="kit-test").publish_pending())
    await started.wait()
    round_.cancel()
    with pytest.raises(asyncio.CancelledError):
        await round_
    assert await kit.pending_rows(db) == 3
    publisher = RecordingPublisher(bus)
    assert await OutboxRelay(db, publisher, service="kit-test").publish_pending() == 3
    assert publisher.sent == ids


async def test_a_relay_round_is_begin_one_statement_and_commit(
    db: Database, bus: EventBus, kit: Any, tenant: str
) -> None:
    """The batch is taken and marked published by one statement in the relay's transaction (a
    SELECT and an UPDATE before: 4 round trips)."""
    await kit.emit_many(db, tenant, 3, per_tx=3)
    with RoundTrips(db) as trips:
        assert await OutboxRelay(db, bus, service="kit-test").publish_pending() == 3
    assert trips.count == 3, trips.sent
    assert await kit.pending_rows(db) == 0


async def test_events_written_at_the_same_time_are_published_in_the_order_written(
    db: Database, bus: EventBus, js: Any, kit: Any, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request's events share their time: the claim's RETURNING has no order, the relay keeps the
    pending index's (per-subject order)."""
    same = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    monkeypatch.setattr(outbox_module, "utcnow", lambda: same)
    ids = await kit.emit_many(db, tenant, 40, per_tx=40)
    publisher = RecordingPublisher(bus)
    assert await OutboxRelay(db, publisher, service="kit-test", batch_size=100).publish_pending() == 40
    assert publisher.sent == ids
    subject = f"steward.events.{tenant}.>"
    msgs = await kit.read_messages(js, bus.settings.events_stream, subject, expected=40)
    assert [kit.headers(m)["Nats-Msg-Id"] for m in msgs] == ids  # the stream holds them in that order


async def test_a_batch_is_published_pipelined_and_every_ack_awaited(
    db: Database, bus: EventBus, js: Any, kit: Any, tenant: str
) -> None:
    """A batch's events are sent ``IN_FLIGHT`` at a time before their acks are awaited (not a round
    trip each, nor the whole batch at once), and the round returns only once the stream acked each:
    all of them are in it, once, in order."""
    n = outbox_module.IN_FLIGHT * 2 + 6
    ids = await kit.emit_many(db, tenant, n, per_tx=5)
    publisher = RecordingPublisher(bus)
    assert await OutboxRelay(db, publisher, service="kit-test", batch_size=200).publish_pending() == n
    assert publisher.most_in_flight == outbox_module.IN_FLIGHT and publisher.in_flight == 0
    subject = f"steward.events.{tenant}.>"
    assert await kit.count_messages(js, bus.settings.events_stream, subject) == n
    msgs = await kit.read_messages(js, bus.settings.events_stream, subject, expected=n)
    assert [kit.headers(m)["Nats-Msg-Id"] for m in msgs] == ids
    assert await kit.pending_rows(db) == 0


async def test_trace_context_travels_in_row_and_message_headers(
    db: Database, bus: EventBus, js: Any, kit: Any, tenant: str
) -> None:
    tracer = TracerProvider().get_tracer("kit-test")
    with tracer.start_as_current_span("command") as span:
        async with db.transaction() as session:
            event = await emit(session, kit.Pinged(n=1), tenant=tenant, source="kit-test")
        trace_id = format(span.get_span_context().trace_id, "032x")
    assert event.traceparent is not None and trace_id in event.traceparent
    await OutboxRelay(db, bus).publish_pending()
    [msg] = await kit.read_messages(js, bus.settings.events_stream, f"steward.events.{tenant}.>", expected=1)
    assert kit.headers(msg)["traceparent"] == event.traceparent


async def test_republishing_after_a_crash_is_deduplicated_by_jetstream(
    db: Database, bus: EventBus, js: Any, kit: Any, tenant: str
) -> None:
    """Crash after publish but before the mark: the row is published again, the stream keeps one."""
    async with db.transaction() as session:
        event = await emit(session, kit.Pinged(n=1), tenant=tenant, source="kit-test")
    relay = OutboxRelay(db, bus)
    assert await relay.publish_pending() == 1
    async with db.transaction() as session:
        await session.execute(sa.update(OutboxEvent).values(published_at=None))
    assert await relay.publish_pending() == 1, "the row should have been published a second time"
    subject = f"steward.events.{tenant}.kitping.pinged"
    assert await kit.count_messages(js, bus.settings.events_stream, subject) == 1
    [msg] = await kit.read_messages(js, bus.settings.events_stream, subject, expected=1)
    assert kit.headers(msg)["Nats-Msg-Id"] == event.id


async def test_two_relays_publish_every_row_exactly_once(
    db: Database, db_url: str, bus: EventBus, js: Any, kit: Any, tenant: str
) -> None:
    ids = await kit.emit_many(db, tenant, 500)
    other_db = Database(db_url, pool_size=2)  # a second replica: its own engine and connections
    try:
        pub_a, pub_b = RecordingPublisher(bus), RecordingPublisher(bus)
        relay_a = OutboxRelay(db, pub_a, batch_size=25)
        relay_b = OutboxRelay(other_db, pub_b, batch_size=25)

        async def drain(relay: OutboxRelay) -> int:
            total = 0
            while n := await relay.publish_pending():
                total += n
            return total

        done_a, done_b = await asyncio.gather(drain(relay_a), drain(relay_b))
        # one more pass in case one relay stopped while the other still held rows
        done_a += await drain(relay_a)
    finally:
        await other_db.dispose()

    sent = Counter(pub_a.sent + pub_b.sent)
    duplicates = [i for i, c in sent.items() if c > 1]
    assert not duplicates, f"{len(duplicates)} rows were published by both relays"
    assert set(sent) == set(ids)
    assert done_a + done_b == 500
    assert pub_a.sent and pub_b.sent, "both relays should have taken a share of the work"
    assert await kit.pending_rows(db) == 0

    subject = f"steward.events.{tenant}.>"
    assert await kit.count_messages(js, bus.settings.events_stream, subject) == 500
    msgs = await kit.read_messages(js, bus.settings.events_stream, subject, expected=500)
    assert Counter(kit.headers(m)["Nats-Msg-Id"] for m in msgs) == Counter(ids)


async def test_a_failed_publish_is_recorded_and_goes_first_next_time(
    db: Database, bus: EventBus, js: Any, kit: Any, tenant: str
) -> None:
    """A row NATS did not take is unmarked (attempts and the error recorded) and published by the
    next round; the rows published beside it stay published, and nothing is published twice."""
    ids = await kit.emit_many(db, tenant, 3, per_tx=1)
    failed_before = REGISTRY.get_sample_value("steward_events_publish_failed_total", {"service": "kit-fail"})
    publisher = RecordingPublisher(bus, fail_ids={ids[1]})
    relay = OutboxRelay(db, publisher, service="kit-fail")
    assert await relay.publish_pending() == 2
    assert publisher.sent == [ids[0], ids[2]]
    async with db.transaction() as session:  # (read() rolls back, which expires loaded rows)
        rows = {str(r.id): r for r in (await session.execute(sa.select(OutboxEvent))).scalars()}
    assert rows[ids[0]].published_at is not None and rows[ids[2]].published_at is not None
    assert rows[ids[1]].published_at is None
    assert rows[ids[1]].attempts == 1
    assert rows[ids[1]].last_error is not None and "Boom" in rows[ids[1]].last_error
    assert rows[ids[0]].attempts == rows[ids[2]].attempts == 0
    failed_after = REGISTRY.get_sample_value("steward_events_publish_failed_total", {"service": "kit-fail"})
    assert (failed_after or 0) - (failed_before or 0) == 1
    assert relay._left_behind  # the relay polls again soon

    publisher.fail_ids.clear()  # the broker is back
    assert await relay.publish_pending() == 1
    assert publisher.sent == [ids[0], ids[2], ids[1]]
    assert await kit.pending_rows(db) == 0
    subject = f"steward.events.{tenant}.>"
    msgs = await kit.read_messages(js, bus.settings.events_stream, subject, expected=3)
    assert Counter(kit.headers(m)["Nats-Msg-Id"] for m in msgs) == Counter(ids)


async def test_backlog_reports_pending_count_and_age(
    db: Database, bus: EventBus, kit: Any, tenant: str
) -> None:
    relay = OutboxRelay(db, bus)
    assert await relay.backlog() == (0, 0.0)
    await kit.emit_many(db, tenant, 3)
    async with db.transaction() as session:  # make the oldest row one minute old
        await session.execute(
            sa.text(
                "UPDATE steward_outbox SET created_at = now() - interval '60 seconds' WHERE id = ("
                "SELECT id FROM steward_outbox ORDER BY created_at LIMIT 1)"
            )
        )
    pending, age = await relay.backlog()
    assert pending == 3
    assert 59 <= age < 120
    await relay.publish_pending()
    assert await relay.backlog() == (0, 0.0)


async def test_cleanup_deletes_only_old_published_rows(
    db: Database, bus: EventBus, kit: Any, tenant: str
) -> None:
    ids = await kit.emit_many(db, tenant, 3)
    relay = OutboxRelay(db, bus)
    async with db.transaction() as session:  # ids[0] published long ago, ids[1] just now, ids[2] pending
        await session.execute(
            sa.text("UPDATE steward_outbox SET published_at = now() - interval '2 days' WHERE id = :id"),
            {"id": uuid.UUID(ids[0])},
        )
        await session.execute(
            sa.text("UPDATE steward_outbox SET published_at = now() WHERE id = :id"),
            {"id": uuid.UUID(ids[1])},
        )
    await relay.cleanup()
    async with db.read() as session:
        left = {str(i) for i in (await session.execute(sa.select(OutboxEvent.id))).scalars()}
    assert left == {ids[1], ids[2]}


async def test_an_event_too_large_for_nats_is_held_and_the_rest_go_on(
    db: Database, bus: EventBus, js: Any, kit: Any, tenant: str
) -> None:
    """An event body larger than NATS takes can never be published: retrying it first for ever
    would stop every later event of the service. It stays in the outbox unpublished (counted in
    the backlog, so the outbox-age alert fires) and the relay goes on past it."""
    ids = await kit.emit_many(db, tenant, 3, per_tx=1)
    async with db.transaction() as session:  # about 1.1 MB: past the server's default max_payload (1 MB)
        await session.execute(
            sa.text(
                "UPDATE steward_outbox SET payload = jsonb_set(payload, '{data,pad}', to_jsonb(repeat('x', 1100000)))"
                " WHERE id = CAST(:i AS uuid)"
            ),
            {"i": ids[1]},
        )
    relay = OutboxRelay(db, bus, service="kit-held")
    assert await relay.publish_pending() == 2
    assert await relay.publish_pending() == 0  # the held row is not tried again
    async with db.transaction() as session:
        rows = {str(r.id): r for r in (await session.execute(sa.select(OutboxEvent))).scalars()}
    assert rows[ids[0]].published_at is not None and rows[ids[2]].published_at is not None
    held = rows[ids[1]]
    assert held.published_at is None and held.attempts == 1
    assert held.last_error is not None and held.last_error.startswith(HELD), held.last_error
    pending, _ = await relay.backlog()
    assert pending == 1  # still counted: the outbox's age alert shows it
    subject = f"steward.events.{tenant}.>"
    assert await kit.count_messages(js, bus.settings.events_stream, subject) == 2
