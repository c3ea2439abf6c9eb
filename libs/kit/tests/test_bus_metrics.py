"""Bus metrics the alerts and dashboards rely on (deploy/helm/steward/templates/prometheusrule.yaml):
the consumer label is the durable name without the per-replica suffix (one series per consumer, not
per replica lifetime), and ``steward_consumer_pending`` reports a shared consumer's lag."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from steward.events.envelope import CloudEvent
from steward.kit.bus import REPLICA_ID, EventBus
from steward.kit.settings import ServiceSettings


@pytest.fixture
async def consumer_bus(settings: ServiceSettings) -> AsyncIterator[EventBus]:
    b = EventBus(settings)
    try:
        yield b
    finally:
        await b.stop()


async def test_per_replica_consumers_are_labelled_without_the_replica_suffix(
    bus: EventBus, consumer_bus: EventBus, kit: Any, tenant: str
) -> None:
    name = f"kit_{uuid.uuid4().hex[:8]}"
    handled = asyncio.Event()

    async def handler(event: CloudEvent) -> None:
        handled.set()

    consumer_bus.subscribe(f"steward.events.{tenant}.>", consumer=name, handler=handler, per_replica=True)
    await consumer_bus.start()
    await kit.ping(bus, tenant)
    await asyncio.wait_for(handled.wait(), timeout=15)
    service = bus.settings.service_name

    async def counted() -> bool:
        labels = {"service": service, "consumer": name, "outcome": "ok"}
        return REGISTRY.get_sample_value("steward_events_consumed_total", labels) == 1

    await kit.wait_for(counted, timeout=5, message="no ok count under the stable consumer name")
    suffixed = {"service": service, "consumer": f"{name}-{REPLICA_ID}", "outcome": "ok"}
    assert REGISTRY.get_sample_value("steward_events_consumed_total", suffixed) is None


async def test_pending_reports_a_shared_consumers_lag(
    bus: EventBus, consumer_bus: EventBus, kit: Any, tenant: str
) -> None:
    name = f"kit_{uuid.uuid4().hex[:8]}"
    release = asyncio.Event()

    async def handler(event: CloudEvent) -> None:
        await release.wait()  # hold the events: delivered, not acknowledged

    consumer_bus.subscribe(f"steward.events.{tenant}.>", consumer=name, handler=handler, batch_size=1)
    await consumer_bus.start()
    for _ in range(3):
        await kit.ping(bus, tenant)

    async def lagging() -> bool:
        return (await consumer_bus.pending()).get(name) == 3

    await kit.wait_for(lagging, timeout=10, message="pending never reached 3")
    release.set()

    async def caught_up() -> bool:
        return (await consumer_bus.pending()).get(name) == 0

    await kit.wait_for(caught_up, timeout=10, message="pending never went back to 0")
