"""A dependency outage never loses a notification: while the registry cannot be reached, notify's
consumer retries the event for as long as it takes (far past ``consumer_max_deliver``) without
dead-lettering it, and delivers it once the registry is back."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import sqlalchemy as sa
from prometheus_client import REGISTRY

from steward.devtools.infra import free_port
from steward.kit import deadletters
from steward.notify.testing import (
    SmtpSink,
    matter_overdue,
    migrate,
    notify_settings,
    publish,
    running_notify,
    scenario,
    wait_for,
)
from steward.registry.testing import Registry, running_registry


async def _inbox(notify: Any, event_id: str) -> int:
    async with notify.db.read() as session:
        return int(
            (
                await session.execute(
                    sa.text("SELECT count(*) FROM inbox_messages WHERE event_id = :e"), {"e": event_id}
                )
            ).scalar_one()
        )


async def test_registry_outage_is_retried_not_dead_lettered(
    make_database: Any, nats_url: str, registry: Registry, registry_db_url: str
) -> None:
    consumer = f"notify_outage_{uuid.uuid4().hex[:8]}"
    db_url = await asyncio.to_thread(migrate, make_database("notify_outage"))
    port = free_port()
    sc = await scenario(registry, tag=consumer)
    with SmtpSink() as smtp:
        settings = notify_settings(
            db_url,
            nats_url,
            f"127.0.0.1:{port}",
            smtp_port=smtp.port,
            notify_consumer=consumer,
            consumer_max_deliver=3,
            grpc_call_timeout_seconds=0.5,
        )
        async with running_notify(settings) as notify:
            notify.runtime.bus.transient_max_delay = 0.3
            event = matter_overdue(tenant=sc.tenant, project_id=sc.project_id, unit_id=sc.unit_id)
            await publish(nats_url, event)

            def transient() -> float:
                value = REGISTRY.get_sample_value(
                    "steward_events_consumed_total",
                    {"service": settings.service_name, "consumer": consumer, "outcome": "transient"},
                )
                return value or 0.0

            async def retried_past_the_budget() -> bool:
                return transient() >= 3 * settings.consumer_max_deliver

            assert await wait_for(retried_past_the_budget, within=60)
            # (this new consumer reads the stream from its start: other tests' poison events land
            # in its dead letters too; the one event of this test must not)
            letters = await deadletters.peek(notify.runtime.bus.js, consumer, limit=500)
            assert event.id not in {letter.event_id for letter in letters}
            assert await _inbox(notify, event.id) == 0

            # the registry comes back (a replica on the address notify was told about)
            async with running_registry(registry_db_url, nats_url, grpc_port=port):

                async def delivered() -> bool:
                    return await _inbox(notify, event.id) >= 1

                assert await wait_for(delivered, within=60)
            assert await _inbox(notify, event.id) == 1
