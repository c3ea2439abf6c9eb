"""The bus outlives a NATS outage of any length.

nats-py gives up after 60 reconnect attempts by default (about two minutes at its 2 s wait) and
closes the connection for good: a service then neither published nor consumed again until it was
restarted. The bus reconnects for as long as it takes.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from steward.devtools.natsinfra import LocalNats
from steward.events.envelope import CloudEvent
from steward.kit.bus import EventBus
from steward.kit.settings import ServiceSettings


async def test_a_bus_consumes_and_publishes_again_after_more_failed_attempts_than_nats_py_allows(
    tmp_path: Path, kit: Any
) -> None:
    server = LocalNats(tmp_path / "nats").start()
    settings = ServiceSettings(
        nats_url=server.url, service_name="kit-reconnect", nats_reconnect_wait_seconds=0.05
    )
    bus = EventBus(settings)
    received: list[CloudEvent] = []

    async def handler(event: CloudEvent) -> None:
        received.append(event)

    tenant = f"t{uuid.uuid4().hex[:8]}"
    bus.subscribe(f"steward.events.{tenant}.>", consumer=f"kit_{uuid.uuid4().hex[:8]}", handler=handler)
    try:
        await bus.start()
        server.stop()
        await kit.wait_for(lambda: not bus.connected, timeout=10, message="the bus never saw NATS go")
        # 4 s at one attempt per 0.05 s: about 80 attempts, past nats-py's default limit of 60
        await asyncio.sleep(4.0)
        server.restart()
        await kit.wait_for(lambda: bus.connected, timeout=15, message="the bus gave up on NATS")
        event = await kit.ping(bus, tenant)
        await kit.wait_for(lambda: [e.id for e in received] == [event.id], timeout=15, message="not consumed")
    finally:
        await bus.stop()
        server.stop()
