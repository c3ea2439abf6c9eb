"""Shared fixtures for the kit tests: a fresh database with the kit tables, a connected event bus,
a unique tenant per test (so tests sharing the session's NATS never see each other's messages),
and small helpers for bounded waits and reading JetStream back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar

import nats
import pytest
import sqlalchemy as sa
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from sqlmodel import SQLModel

from steward.events.envelope import CloudEvent, EventData
from steward.kit.audit import AuditEntry
from steward.kit.bus import EventBus
from steward.kit.db import Database
from steward.kit.dedup import ConsumedEvent
from steward.kit.outbox import OutboxEvent, build_event, emit
from steward.kit.settings import ServiceSettings
from steward.kit.timers import DueTimer

KIT_TABLES = [OutboxEvent.__table__, ConsumedEvent.__table__, DueTimer.__table__, AuditEntry.__table__]

# Business rows for the tests live in their own MetaData: nothing leaks into SQLModel.metadata,
# which the services' migration checks compare against their Alembic history.
test_metadata = sa.MetaData()
widgets = sa.Table(
    "kit_test_widgets",
    test_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.Uuid, nullable=False),
    sa.Column("note", sa.String, nullable=False),
)


class Pinged(EventData):
    """A test-only event: ``steward.events.<tenant>.kitping.pinged``."""

    aggregate: ClassVar[str] = "kitping"
    event: ClassVar[str] = "pinged"

    n: int


async def create_tables(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: SQLModel.metadata.create_all(c, tables=KIT_TABLES))
        await conn.run_sync(test_metadata.create_all)


@pytest.fixture
def db_url(make_database: Callable[..., str]) -> str:
    return make_database("kit")


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url, pool_size=5)
    await create_tables(database)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def tenant() -> str:
    """A tenant code unique to the test: its subjects never collide with another test's."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def settings(nats_url: str) -> ServiceSettings:
    return ServiceSettings(nats_url=nats_url, service_name=f"kit-{uuid.uuid4().hex[:6]}")


@pytest.fixture
async def bus(settings: ServiceSettings) -> AsyncIterator[EventBus]:
    event_bus = EventBus(settings)
    await event_bus.connect()
    try:
        yield event_bus
    finally:
        await event_bus.stop()


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    """A plain nats-py client, independent of the bus under test, to read streams back."""
    client = await nats.connect(nats_url)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def js(nc: Client) -> JetStreamContext:
    return nc.jetstream()


async def wait_for(
    predicate: Callable[[], Awaitable[bool]] | Callable[[], bool],
    *,
    timeout: float,  # noqa: ASYNC109 - a polling helper with a bounded wait
    message: str,
    interval: float = 0.02,
) -> None:
    """Poll ``predicate`` until true; fail with ``message`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout}s: {message}")
        await asyncio.sleep(interval)


async def count_messages(js: JetStreamContext, stream: str, subject_filter: str) -> int:
    """Exact number of messages in ``stream`` on subjects matching ``subject_filter``."""
    info = await js.stream_info(stream, subjects_filter=subject_filter)
    return sum((info.state.subjects or {}).values())


async def read_messages(
    js: JetStreamContext,
    stream: str,
    subject_filter: str,
    *,
    expected: int,
    timeout: float = 5.0,  # noqa: ASYNC109 - a bounded fetch loop
) -> list[Msg]:
    """Read every message on ``subject_filter`` from the start of ``stream`` (ephemeral consumer)."""
    sub = await js.pull_subscribe(subject_filter, stream=stream)
    out: list[Msg] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while len(out) < expected and loop.time() < deadline:
            try:
                msgs = await sub.fetch(batch=min(256, expected - len(out)), timeout=0.5)
            except TimeoutError:
                continue
            for m in msgs:
                await m.ack()
            out.extend(msgs)
    finally:
        await sub.unsubscribe()
    assert len(out) >= expected, f"expected {expected} messages on {subject_filter}, read {len(out)}"
    return out


async def emit_many(db: Database, tenant: str, n: int, *, per_tx: int = 100) -> list[str]:
    """``n`` ``Pinged`` events emitted, ``per_tx`` to a transaction; their ids."""
    ids: list[str] = []
    for start in range(0, n, per_tx):
        async with db.transaction() as session:
            for i in range(start, min(n, start + per_tx)):
                ev = await emit(session, Pinged(n=i), tenant=tenant, source="kit-test")
                ids.append(ev.id)
    return ids


async def pending_rows(db: Database) -> int:
    """Outbox rows not published yet."""
    async with db.read() as session:
        return (
            await session.execute(
                sa.select(sa.func.count()).select_from(OutboxEvent).where(OutboxEvent.published_at.is_(None))
            )
        ).scalar_one()


async def ping(bus: EventBus, tenant: str, n: int = 1, headers: dict[str, str] | None = None) -> CloudEvent:
    """A ``Pinged`` event published straight to the events stream (no outbox); the event."""
    event = build_event(Pinged(n=n), tenant=tenant, source="kit-test")
    await bus.publish_event(
        subject=Pinged.subject_for(tenant),
        body=event.model_dump_json(exclude_none=True).encode(),
        msg_id=event.id,
        headers=headers or {},
    )
    return event


class Kit:
    """Test helpers handed out by the ``kit`` fixture (test modules cannot import conftest)."""

    Pinged = Pinged
    widgets = widgets
    wait_for = staticmethod(wait_for)
    count_messages = staticmethod(count_messages)
    read_messages = staticmethod(read_messages)
    create_tables = staticmethod(create_tables)
    emit_many = staticmethod(emit_many)
    pending_rows = staticmethod(pending_rows)
    ping = staticmethod(ping)

    @staticmethod
    def headers(msg: Msg) -> dict[str, Any]:
        return dict(msg.headers or {})


@pytest.fixture
def kit() -> type[Kit]:
    return Kit
