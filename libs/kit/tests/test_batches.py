"""The kit's batch subscription against a real NATS JetStream: events arrive in batches, a failed
event of a batch is retried on its own while the rest are acknowledged, an undecodable body is
dead-lettered at once, and the subject filter keeps other subjects out."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from steward.events.envelope import CloudEvent
from steward.kit.batches import BatchSubscription, Outcome
from steward.kit.bus import DLQ_STREAM, EventBus
from steward.kit.outbox import build_event
from steward.kit.settings import ServiceSettings

from .test_bus import consumer_name


async def test_batches_retries_one_failed_event_dead_letters_garbage_and_filters(
    bus: EventBus, js: Any, kit: Any, tenant: str, settings: ServiceSettings
) -> None:
    name = consumer_name()
    batches: list[list[int]] = []
    failed_once: set[int] = set()

    async def handle(events: Sequence[CloudEvent]) -> list[Outcome]:
        ns = [int(e.data["n"]) for e in events]
        batches.append(ns)
        outcomes = []
        for n in ns:
            if n == 3 and n not in failed_once:  # the third event fails the first time only
                failed_once.add(n)
                outcomes.append(Outcome(RuntimeError("not yet")))
            else:
                outcomes.append(Outcome())
        return outcomes

    prefix = settings.events_subject_prefix
    events = [build_event(kit.Pinged(n=n), tenant=tenant, source="kit-test") for n in range(1, 11)]
    for e in events:  # all waiting before the consumer starts: they come as one batch
        await bus.publish_event(
            subject=kit.Pinged.subject_for(tenant), body=e.model_dump_json().encode(), msg_id=e.id, headers={}
        )
    await bus.js.publish(f"{prefix}.{tenant}.kitping.garbage", b"{not json", stream=settings.events_stream)
    other = build_event(kit.Pinged(n=99), tenant=tenant, source="kit-test")
    await bus.publish_event(  # another aggregate: outside the filter, never delivered
        subject=f"{prefix}.{tenant}.elsewhere.pinged",
        body=other.model_dump_json().encode(),
        msg_id=other.id,
        headers={},
    )
    sub = BatchSubscription(
        bus, consumer=name, subjects=[f"{prefix}.{tenant}.kitping.>"], handler=handle, fetch_batch=64
    )
    task = asyncio.create_task(sub.run())
    try:
        await kit.wait_for(
            lambda: sorted(n for b in batches for n in b) == sorted([*range(1, 11), 3]),
            timeout=20,
            message="every event handled, the third twice",
        )
        await kit.wait_for(
            lambda: kit.count_messages(js, DLQ_STREAM, f"steward.dlq.{name}"),
            timeout=10,
            message="the undecodable message was not dead-lettered",
        )
        assert batches[0] == list(range(1, 11))  # one batch, in order
        assert batches[1:] == [[3]]  # only the failed one came back

        async def settled() -> bool:
            info = await js.consumer_info(settings.events_stream, name)
            return bool(info.num_pending == 0 and info.num_ack_pending == 0)

        await kit.wait_for(settled, timeout=10, message="messages left unacknowledged")
        assert all(99 not in b for b in batches)
    finally:
        await sub.stop()
        task.cancel()
