"""EventBus against a real NATS JetStream: stream declaration, durable pull consumers with manual
acks, retries by NACK with backoff, and the per-consumer dead-letter subject (docs/architecture.md).

``bus.py`` NACKs with a delay of ``0.2 * 2**n`` s, so a message failing twice is redelivered
after about 0.4 s and then 0.8 s: the tests use ``max_deliver=3`` to stay fast.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
import nats.js.api as js_api
import pytest
from nats.js.errors import NotFoundError
from prometheus_client import REGISTRY

from steward.events.envelope import CloudEvent
from steward.kit.bus import DLQ_STREAM, EventBus, decode_event
from steward.kit.outbox import build_event
from steward.kit.settings import ServiceSettings


@pytest.fixture
async def consumer_bus(settings: ServiceSettings) -> AsyncIterator[EventBus]:
    """A second bus (its own broker) for subscribers; started by the test after subscribing."""
    b = EventBus(settings)
    try:
        yield b
    finally:
        await b.stop()


async def publish(bus: EventBus, kit: Any, tenant: str, n: int = 1) -> CloudEvent:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    return await kit.ping(bus, tenant, n, headers={"traceparent": traceparent})


def consumer_name() -> str:
    return f"kit_{uuid.uuid4().hex[:10]}"


async def consumer_info(js: Any, stream: str, name: str) -> Any:
    return await js.consumer_info(stream, name)


async def test_streams_are_declared_with_configured_window_and_limits(nats_url: str, js: Any) -> None:
    suffix = uuid.uuid4().hex[:8]
    settings = ServiceSettings(
        nats_url=nats_url,
        events_stream=f"KIT_EVENTS_{suffix}",
        events_subject_prefix=f"kit{suffix}.events",
        events_duplicate_window_seconds=90.0,
        events_max_age_days=7,
        events_max_bytes=64 * 1024 * 1024,
    )
    bus = EventBus(settings)
    await bus.connect()
    try:
        info = await js.stream_info(settings.events_stream)
        cfg = info.config
        assert cfg.subjects == [f"kit{suffix}.events.>"]
        assert cfg.storage == js_api.StorageType.FILE
        assert cfg.retention == js_api.RetentionPolicy.LIMITS
        assert cfg.duplicate_window == pytest.approx(90.0)
        assert cfg.max_age == pytest.approx(7 * 86400.0)
        assert cfg.max_bytes == 64 * 1024 * 1024
        assert cfg.discard == js_api.DiscardPolicy.OLD

        dlq = (await js.stream_info(DLQ_STREAM)).config
        assert dlq.subjects == ["steward.dlq.>"]
        assert dlq.storage == js_api.StorageType.FILE
    finally:
        await bus.stop()

    # a restart with changed settings updates the existing stream in place
    changed = settings.model_copy(update={"events_duplicate_window_seconds": 30.0, "events_max_age_days": 3})
    bus2 = EventBus(changed)
    await bus2.connect()
    try:
        cfg = (await js.stream_info(settings.events_stream)).config
        assert cfg.duplicate_window == pytest.approx(30.0)
        assert cfg.max_age == pytest.approx(3 * 86400.0)
    finally:
        await bus2.stop()
        await js.delete_stream(settings.events_stream)
    with pytest.raises(NotFoundError):
        await js.stream_info(settings.events_stream)


async def test_publish_event_sets_msg_id_and_dedupes(bus: EventBus, js: Any, kit: Any, tenant: str) -> None:
    event = build_event(kit.Pinged(n=1), tenant=tenant, source="kit-test")
    for _ in range(3):
        await bus.publish_event(
            subject=kit.Pinged.subject_for(tenant),
            body=event.model_dump_json().encode(),
            msg_id=event.id,
            headers={},
        )
    subject = kit.Pinged.subject_for(tenant)
    assert await kit.count_messages(js, bus.settings.events_stream, subject) == 1
    [msg] = await kit.read_messages(js, bus.settings.events_stream, subject, expected=1)
    assert kit.headers(msg)["Nats-Msg-Id"] == event.id
    assert decode_event(msg.data).id == event.id


async def test_publish_event_on_a_subject_outside_the_stream_fails(bus: EventBus) -> None:
    with pytest.raises(Exception):  # noqa: B017 - any JetStream error: no stream acknowledges it
        await bus.publish_event(
            subject="kit.unrouted.subject", body=b"{}", msg_id=str(uuid.uuid4()), headers={}
        )


async def test_handler_receives_decoded_event_and_message_is_acked(
    bus: EventBus, consumer_bus: EventBus, js: Any, kit: Any, tenant: str
) -> None:
    name = consumer_name()
    received: list[CloudEvent] = []

    async def handler(event: CloudEvent) -> None:
        received.append(event)

    consumer_bus.subscribe(f"steward.events.{tenant}.>", consumer=name, handler=handler, max_deliver=3)
    await consumer_bus.start()
    sent = [await publish(bus, kit, tenant, n) for n in range(3)]
    await kit.wait_for(
        lambda: len(received) == 3, timeout=10, message=f"received {len(received)} of 3 events"
    )
    # the messages of one fetched batch are handled concurrently: no consumer may rely on
    # order (they de-duplicate, and scoring orders by event time), so neither does this test
    assert sorted(e.id for e in received) == sorted(e.id for e in sent)
    assert sorted(e.data["n"] for e in received) == [0, 1, 2]

    info = await consumer_info(js, bus.settings.events_stream, name)
    assert info.config.durable_name == name
    assert info.config.ack_policy == js_api.AckPolicy.EXPLICIT

    async def all_acked() -> bool:
        i = await consumer_info(js, bus.settings.events_stream, name)
        return i.num_ack_pending == 0 and i.num_pending == 0

    await kit.wait_for(all_acked, timeout=5, message="consumer still has unacknowledged messages")


async def test_an_event_reaches_its_handler_without_a_worker_thread(
    bus: EventBus, consumer_bus: EventBus, kit: Any, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every step from the fetched message to the handler stays on the event loop: no hop to a
    worker thread (a dependency-injection layer once fetched the message from its context in one, per
    event)."""
    hops: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(func, "__qualname__", repr(func)))
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    received: list[CloudEvent] = []

    async def handler(event: CloudEvent) -> None:
        received.append(event)

    consumer_bus.subscribe(
        f"steward.events.{tenant}.>", consumer=consumer_name(), handler=handler, max_deliver=3
    )
    await consumer_bus.start()
    for n in range(5):
        await publish(bus, kit, tenant, n)
    await kit.wait_for(lambda: len(received) == 5, timeout=10, message=f"received {len(received)} of 5")
    assert hops == []


async def test_failing_handler_is_retried_and_succeeds_later(
    bus: EventBus, consumer_bus: EventBus, js: Any, kit: Any, tenant: str
) -> None:
    name = consumer_name()
    attempts: list[str] = []
    done = asyncio.Event()

    async def handler(event: CloudEvent) -> None:
        attempts.append(event.id)
        if len(attempts) < 3:
            raise LookupError("the row this event needs is not there yet")
        done.set()

    consumer_bus.subscribe(f"steward.events.{tenant}.>", consumer=name, handler=handler, max_deliver=5)
    await consumer_bus.start()
    event = await publish(bus, kit, tenant)
    try:
        await asyncio.wait_for(done.wait(), timeout=15)
    except TimeoutError:
        pytest.fail(f"handler never succeeded; attempts={len(attempts)} (message dropped instead of NACKed?)")
    assert attempts == [event.id] * 3
    retried = REGISTRY.get_sample_value(
        "steward_events_consumed_total",
        {"service": bus.settings.service_name, "consumer": name, "outcome": "retry"},
    )
    assert retried == 2
    await asyncio.sleep(0.5)
    assert len(attempts) == 3, "an acknowledged message must not be delivered again"
    assert await kit.count_messages(js, DLQ_STREAM, f"steward.dlq.{name}") == 0


async def test_a_consumer_handles_fewer_events_at_once_than_the_database_pool_holds(
    nats_url: str, bus: EventBus, kit: Any, tenant: str
) -> None:
    """Each handler holds a connection for its transaction: more at once than the pool holds and
    every event past it opens (and closes) a connection of its own."""
    consumer = EventBus(ServiceSettings(nats_url=nats_url, service_name="kit-pool", database_pool_size=6))
    active, most, seen = 0, 0, 0
    done = asyncio.Event()

    async def handler(event: CloudEvent) -> None:
        nonlocal active, most, seen
        active += 1
        most = max(most, active)
        await asyncio.sleep(0.02)  # a transaction's round trips
        active -= 1
        seen += 1
        if seen == 40:
            done.set()

    consumer.subscribe(f"steward.events.{tenant}.>", consumer=consumer_name(), handler=handler)
    for n in range(40):
        await publish(bus, kit, tenant, n)
    await consumer.start()
    try:
        await asyncio.wait_for(done.wait(), timeout=20)
    finally:
        await consumer.stop()
    assert 1 < most <= 4  # concurrent, and two connections left for the rest of the service


async def test_exhausted_retries_go_to_the_dead_letter_subject(
    bus: EventBus, consumer_bus: EventBus, js: Any, kit: Any, tenant: str
) -> None:
    name = consumer_name()
    attempts: list[int] = []

    async def handler(event: CloudEvent) -> None:
        attempts.append(event.data["n"])
        raise ValueError(f"cannot handle n={event.data['n']}")

    consumer_bus.subscribe(f"steward.events.{tenant}.>", consumer=name, handler=handler, max_deliver=3)
    await consumer_bus.start()
    event = await publish(bus, kit, tenant, n=9)
    dlq_subject = f"steward.dlq.{name}"
    await kit.wait_for(
        lambda: kit.count_messages(js, DLQ_STREAM, dlq_subject),
        timeout=15,
        message=f"no dead letter on {dlq_subject} after {len(attempts)} attempts",
    )
    assert attempts == [9, 9, 9], "exactly max_deliver attempts before dead-lettering"
    [dead] = await kit.read_messages(js, DLQ_STREAM, dlq_subject, expected=1)
    headers = kit.headers(dead)
    assert headers["Steward-Dlq-Reason"] == "ValueError: cannot handle n=9"
    assert headers["Steward-Dlq-Subject"] == kit.Pinged.subject_for(tenant)
    assert "Nats-Msg-Id" not in headers
    assert headers["traceparent"].startswith("00-0af7651916cd43dd")
    assert json.loads(dead.data)["id"] == event.id

    # acknowledged after dead-lettering: never delivered again
    await asyncio.sleep(1.0)
    assert len(attempts) == 3
    info = await consumer_info(js, bus.settings.events_stream, name)
    assert info.num_ack_pending == 0 and info.num_redelivered == 0 and info.num_pending == 0
    dead_lettered = REGISTRY.get_sample_value(
        "steward_events_consumed_total",
        {"service": bus.settings.service_name, "consumer": name, "outcome": "dead_lettered"},
    )
    assert dead_lettered == 1


async def test_undecodable_body_goes_to_the_dead_letter_subject(
    bus: EventBus, consumer_bus: EventBus, js: Any, kit: Any, tenant: str
) -> None:
    name = consumer_name()
    received: list[CloudEvent] = []

    async def handler(event: CloudEvent) -> None:
        received.append(event)

    consumer_bus.subscribe(f"steward.events.{tenant}.>", consumer=name, handler=handler, max_deliver=3)
    await consumer_bus.start()
    subject = kit.Pinged.subject_for(tenant)
    await js.publish(subject, b"\xff not json", stream=bus.settings.events_stream)
    await js.publish(subject, b'{"id": "x"}', stream=bus.settings.events_stream)  # JSON, not a CloudEvent
    good = await publish(bus, kit, tenant, n=5)

    dlq_subject = f"steward.dlq.{name}"
    await kit.wait_for(
        lambda: _count_is(js, dlq_subject, 2),
        timeout=10,
        message="undecodable messages were not dead-lettered",
    )
    dead = await kit.read_messages(js, DLQ_STREAM, dlq_subject, expected=2)
    assert [d.data for d in dead] == [b"\xff not json", b'{"id": "x"}']
    for d in dead:
        assert kit.headers(d)["Steward-Dlq-Reason"].startswith("undecodable event")
    await kit.wait_for(lambda: len(received) == 1, timeout=5, message="the valid event was not handled")
    assert received[0].id == good.id


async def _count_is(js: Any, subject: str, n: int) -> bool:
    info = await js.stream_info(DLQ_STREAM, subjects_filter=subject)
    return sum((info.state.subjects or {}).values()) == n


async def test_stop_disconnects(settings: ServiceSettings) -> None:
    bus = EventBus(settings)
    with pytest.raises(RuntimeError, match="not connected"):
        _ = bus.js
    await bus.connect()
    assert bus.connected
    await bus.stop()
    assert not bus.connected


async def test_per_replica_consumers_each_see_every_event_shared_ones_split_them(
    bus: EventBus, settings: ServiceSettings, js: Any, kit: Any, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from steward.kit import bus as bus_module

    name = consumer_name()
    seen: dict[str, list[str]] = {"a": [], "b": [], "shared-a": [], "shared-b": []}
    replicas = [EventBus(settings), EventBus(settings)]
    try:
        for label, replica in zip(("a", "b"), replicas, strict=True):
            monkeypatch.setattr(bus_module, "REPLICA_ID", f"r{label}{uuid.uuid4().hex[:4]}")

            async def per_replica(event: CloudEvent, label: str = label) -> None:
                seen[label].append(event.id)

            async def shared(event: CloudEvent, label: str = label) -> None:
                seen[f"shared-{label}"].append(event.id)

            replica.subscribe(
                f"steward.events.{tenant}.>", consumer=name, handler=per_replica, per_replica=True
            )
            replica.subscribe(f"steward.events.{tenant}.>", consumer=f"{name}_s", handler=shared)
            await replica.start()
        sent = [(await publish(bus, kit, tenant, n)).id for n in range(4)]
        await kit.wait_for(
            lambda: (
                len(seen["a"]) == 4
                and len(seen["b"]) == 4
                and len(seen["shared-a"]) + len(seen["shared-b"]) == 4
            ),
            timeout=10,
            message=f"deliveries: { {k: len(v) for k, v in seen.items()} }",
        )
        assert sorted(seen["a"]) == sorted(sent) and sorted(seen["b"]) == sorted(sent)  # each once
        assert sorted(seen["shared-a"] + seen["shared-b"]) == sorted(sent)
        names = [c.name async for c in _consumers(js, bus.settings.events_stream)]
        per = [n for n in names if n.startswith(f"{name}-r")]
        assert len(per) == 2
        info = await consumer_info(js, bus.settings.events_stream, per[0])
        assert info.config.deliver_policy == js_api.DeliverPolicy.NEW and info.config.inactive_threshold
    finally:
        for replica in replicas:
            await replica.stop()


async def _consumers(js: Any, stream: str) -> AsyncIterator[Any]:
    for info in await js.consumers_info(stream):
        yield info
