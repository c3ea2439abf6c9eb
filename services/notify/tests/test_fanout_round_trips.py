"""A batch's fan-out is written in one round trip (``bulk.WRITE_FANOUT``): the inbox messages, the
deliveries, their ``delivery.succeeded`` events and the NOTIFYs. Before, that was five statements
straight to the connection and two more through SQLAlchemy (the relay's and the worker's NOTIFY).
What it looks up is read in one more (``deliveries.lookups``; three statements before).
A message already in the inbox (its de-duplication row gone, the event come again) writes neither
its delivery nor its event a second time."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa

from steward.kit.clients.registry import RegistryClient
from steward.kit.testing import RoundTrips
from steward.notify.app import PROJECT_CACHE_SECONDS
from steward.notify.deliveries import bulk
from steward.notify.subscribers import EventConsumer
from steward.notify.testing import Notify, generic_event, overdue_rules, scenario
from steward.registry.testing import Registry


class Counted:
    """The asyncpg connection under the session, with what is sent on it counted."""

    def __init__(self, conn: asyncpg.Connection, sent: list[str]) -> None:
        self._conn, self._sent = conn, sent

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._conn, name)
        if name in ("execute", "executemany", "fetch", "fetchrow", "fetchval"):

            async def call(query: str, *args: Any, **kwargs: Any) -> Any:
                self._sent.append(" ".join(query.split())[:120])
                return await attr(query, *args, **kwargs)

            return call
        return attr


async def _state(notify: Notify, event_id: str) -> tuple[int, list[tuple[str, str]], int]:
    """(inbox messages, (channel, status) of the deliveries, delivery.succeeded events) of an event."""
    async with notify.db.read() as s:
        inbox = (
            await s.execute(
                sa.text("SELECT count(*) FROM inbox_messages WHERE event_id = :e"), {"e": event_id}
            )
        ).scalar_one()
        deliveries = [  # the e-mail's status is the worker's (it may be sending it already)
            (r[0], r[1] if r[0] == "inbox" else "queued")
            for r in await s.execute(
                sa.text("SELECT channel, status FROM deliveries WHERE event_id = :e ORDER BY channel"),
                {"e": event_id},
            )
        ]
        events = (
            await s.execute(
                sa.text(
                    "SELECT count(*) FROM steward_outbox WHERE type = 'steward.delivery.succeeded.v1' "
                    "AND payload->'data'->>'event_id' = :e"
                ),
                {"e": event_id},
            )
        ).scalar_one()
        return int(inbox), deliveries, int(events)


async def test_a_batch_fan_out_is_one_round_trip(
    notify: Notify, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = overdue_rules()
    rules["notify"]["routes"].append(
        {
            "event_type": "matter.filed",
            "recipients": ["agent"],
            "channels": ["inbox", "email"],
            "severity": "warning",
        }
    )
    sc = await scenario(registry, rules=rules, tag="trips")
    client = RegistryClient(notify.settings, project_ttl_seconds=PROJECT_CACHE_SECONDS)
    consumer = EventConsumer(notify.db, client, notify.settings)
    raw: list[str] = []
    connection = bulk.connection

    mine = asyncio.current_task()

    async def counted(session: Any) -> Any:  # the test's own task: not the delivery worker's
        conn = await connection(session)
        return Counted(conn, raw) if asyncio.current_task() is mine else conn

    monkeypatch.setattr(bulk, "connection", counted)
    event = generic_event(
        sc.tenant, "matter.filed", {"project_id": sc.project_id, "title": "施工用电接入受阻"}
    )
    with RoundTrips(notify.db) as trips:
        await consumer.handle(event)
    # the de-duplication rows, the batch's lookups (preferences, template overrides, agency
    # subscriptions, endpoints), then the fan-out: three statements on the connection, and nothing
    # through SQLAlchemy but the transaction
    assert len(raw) == 3, raw
    assert raw[0].startswith("INSERT INTO steward_inbox") and "FROM preferences" in raw[1], raw
    assert raw[2].startswith("WITH inbox AS"), raw
    assert trips.sent == ["BEGIN", "COMMIT"], trips.sent
    assert await _state(notify, event.id) == (1, [("email", "queued"), ("inbox", "sent")], 1)

    # the event again after its de-duplication row is gone (purged, say): the message is there
    # already, so its delivery row and its delivery.succeeded event are not written twice
    async with notify.db.transaction() as s:
        await s.execute(sa.text("DELETE FROM steward_inbox WHERE event_id = :e"), {"e": event.id})
        await s.execute(
            sa.text("DELETE FROM deliveries WHERE event_id = :e AND channel = 'email'"), {"e": event.id}
        )
    raw.clear()
    await consumer.handle(event)
    assert len(raw) == 3, raw
    assert await _state(notify, event.id) == (1, [("email", "queued"), ("inbox", "sent")], 1)
    await client.close()
