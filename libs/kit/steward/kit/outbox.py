"""Transactional outbox: events are rows written in the state change's own transaction.

The :class:`OutboxRelay` publishes them to JetStream with ``Nats-Msg-Id`` = event id, so a
publish repeated after a crash is dropped by the stream's duplicate window. Rows are claimed with
``FOR UPDATE SKIP LOCKED``: several replicas never publish the same row at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import asyncpg
import nats.errors
import sqlalchemy as sa
import structlog
from opentelemetry import propagate, trace
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.envelope import CloudEvent, EventData
from steward.kit import metrics, telemetry, writes
from steward.kit.db import JSONB, Database, asyncpg_dsn, utcnow
from steward.kit.driven import fast_path
from steward.kit.ids import new_id
from steward.kit.logs import THROTTLED
from steward.kit.pooled import driver_transaction
from steward.kit.straight import all_rows

log = structlog.get_logger(__name__)
_tracer = trace.get_tracer("steward.kit.outbox")

NOTIFY_CHANNEL = "steward_outbox"


class OutboxEvent(SQLModel, table=True):
    __tablename__ = "steward_outbox"
    __table_args__ = (
        sa.Index("ix_steward_outbox_pending", "created_at", postgresql_where=sa.text("published_at IS NULL")),
    )

    id: uuid.UUID = Field(primary_key=True)
    subject: str
    type: str
    tenant: str
    payload: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    headers: dict[str, str] = Field(default_factory=dict, sa_column=sa.Column(JSONB, nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    published_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    attempts: int = 0
    last_error: str | None = None


_OUTBOX: sa.Table = OutboxEvent.__table__  # type: ignore[attr-defined]


def build_event(
    data: EventData,
    *,
    tenant: str,
    source: str,
    subject: str | None = None,
    actor: str | None = None,
    event_id: uuid.UUID | None = None,
    time: datetime | None = None,
) -> CloudEvent:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return CloudEvent(
        id=str(event_id or new_id()),
        source=source,
        type=data.ce_type(),
        time=time or utcnow(),
        subject=subject,
        tenant=tenant,
        actor=actor,
        traceparent=carrier.get("traceparent"),
        data=data.model_dump(mode="json"),
    )


async def emit(
    session: AsyncSession,
    data: EventData,
    *,
    tenant: str,
    source: str,
    subject: str | None = None,
    actor: str | None = None,
    subject_prefix: str = "steward.events",
) -> CloudEvent:
    """Record an event in the caller's transaction. It is published after commit, at least once."""
    event = build_event(data, tenant=tenant, source=source, subject=subject, actor=actor)
    headers = {"traceparent": event.traceparent} if event.traceparent else {}
    values: dict[str, Any] = {
        "id": uuid.UUID(event.id),
        "subject": data.subject_for(tenant, subject_prefix),
        "type": event.type,
        "tenant": tenant,
        "payload": event.model_dump(mode="json", exclude_none=True),
        "headers": headers,
        "created_at": event.time,
        "published_at": None,
        "attempts": 0,
        "last_error": None,
    }
    batch = writes.current(session)
    if batch is not None:  # a plain row for the batch's statement: no ORM object to build and read back
        batch.insert(_OUTBOX, values)
    else:
        session.add(OutboxEvent(**values))
    # one NOTIFY per transaction wakes the relay at commit; more would only cost round trips
    transaction = id(session.sync_session.get_transaction())
    if session.info.get("steward_outbox_notified") != transaction:
        if batch is not None:  # sent with the batch's one statement
            batch.notify(NOTIFY_CHANNEL)
        else:
            await session.execute(sa.text("SELECT pg_notify(:ch, '')"), {"ch": NOTIFY_CHANNEL})
        session.info["steward_outbox_notified"] = transaction
    return event


# ``last_error`` of a row NATS can never take (its body is larger than the server's max_payload):
# it stays in the outbox, unpublished — counted in the backlog, so the outbox-age alert fires — and
# is not tried again. A row that failed otherwise is unmarked and goes first in the next batch.
HELD = "held: "


@functools.cache
def _claim(limit: int) -> sa.TextClause:
    """The relay's batch, taken and marked published in one statement (sent straight through the
    driver; the LIMIT stays a literal, so the planner always knows it takes the pending index's
    first rows). The mark is part of the relay's transaction: it commits only with what the relay
    keeps marked once the batch is published, and a crash before the commit leaves every row pending.
    The payload comes as the text PostgreSQL keeps. RETURNING has no order of its own: each row
    comes with its place in the index's order (events of one transaction share ``created_at``; the
    index keeps them in the order they were written), and the relay sorts by it."""
    return sa.text(
        "UPDATE steward_outbox AS o SET published_at = :at FROM ("
        "SELECT id, row_number() OVER () AS place FROM ("
        "SELECT id FROM steward_outbox "
        "WHERE published_at IS NULL AND (last_error IS NULL OR last_error NOT LIKE :held) "
        f"ORDER BY created_at LIMIT {int(limit)} FOR UPDATE SKIP LOCKED) AS taken) AS p WHERE o.id = p.id "
        "RETURNING o.id, o.subject, o.type, CAST(o.payload AS TEXT), o.headers, p.place"
    ).bindparams(
        sa.bindparam("at", type_=sa.DateTime(timezone=True)),
        held=HELD.replace("%", "\\%").replace("_", "\\_") + "%",
    )


# a row NATS did not take: unmarked, the attempt and its error recorded
_FAILED = sa.text(
    "UPDATE steward_outbox SET published_at = NULL, attempts = attempts + 1, last_error = :error WHERE id = :id"
).bindparams(sa.bindparam("id", type_=sa.Uuid()), sa.bindparam("error", type_=sa.String()))


# events sent before their acks are awaited: a flight's sends (about 30 µs of CPU each) run back to
# back, so the requests the process serves meanwhile wait at most about a millisecond for them
IN_FLIGHT = 32

BACKLOG_EVERY = 1.0  # seconds between the backlog gauges' queries while events flow


class Publisher(Protocol):
    async def publish_event(
        self, *, subject: str, body: bytes, msg_id: str, headers: dict[str, str]
    ) -> None: ...


class OutboxRelay:
    """Publishes pending outbox rows; wakes on LISTEN/NOTIFY, with a short poll as a safety net."""

    def __init__(
        self,
        db: Database,
        publisher: Publisher,
        *,
        batch_size: int = 200,
        poll_seconds: float = 0.5,
        idle_poll_seconds: float | None = None,
        retention: timedelta = timedelta(days=1),
        service: str = "steward",
    ) -> None:
        self.db = db
        self.publisher = publisher
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        # while LISTEN works and nothing is pending, the safety-net poll doubles from poll_seconds
        # up to this (a commit's NOTIFY still wakes the relay at once); without LISTEN it stays put
        self.idle_poll_seconds = max(poll_seconds, idle_poll_seconds or poll_seconds)
        self._wait = poll_seconds
        self._listen_retry_at = 0.0
        self.retention = retention
        self.service = service
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._last_cleanup = 0.0
        self._backlog_at = 0.0
        self._left_behind = False  # the last batch left a row it could not publish (retried soon)

    async def publish_pending(self) -> int:
        """Publish one batch; returns how many rows were published. Plain statements, no ORM objects:
        the batch is taken and marked published by one statement (BEGIN, that statement, COMMIT:
        three round trips) in a transaction straight through the driver (no session: it cost more
        than the round's work), the payload sent as the text PostgreSQL keeps (no decode and encode
        per event). The batch's events go out pipelined, ``IN_FLIGHT`` at a time — their publishes
        written in the batch's order on the one NATS connection, then their acks awaited together
        (one event at a time was a round trip each: about 110 µs of CPU an event against 35) — and a
        row that was not published is unmarked before the commit, to go first next time."""
        self._left_behind = False
        engine = self.db.engine
        if fast_path(engine.sync_engine):
            async with driver_transaction(engine) as tx:
                return await self._round(tx.rows)
        async with self.db.transaction() as session:  # statement hooks listen: through SQLAlchemy
            return await self._round(functools.partial(all_rows, session))

    async def _round(self, rows: Callable[[sa.TextClause, dict[str, Any]], Awaitable[Sequence[Any]]]) -> int:
        claimed = await rows(_claim(self.batch_size), {"at": utcnow()})
        batch = sorted(claimed, key=lambda row: row[5])  # the pending index's order
        traced = telemetry.exporting()
        outcomes: list[BaseException | None] = []
        for start in range(0, len(batch), IN_FLIGHT):  # a flight's sends run without a pause in between
            flight = batch[start : start + IN_FLIGHT]
            outcomes += await asyncio.gather(
                *(self._publish(row, traced) for row in flight), return_exceptions=True
            )
        published = 0
        for (event_id, _, type_, payload, _, _), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, asyncio.CancelledError):
                raise outcome  # the relay is being stopped: the transaction rolls back
            if outcome is None:
                published += 1
                metrics.EVENTS_PUBLISHED.labels(self.service, type_).inc()
                continue
            held = isinstance(outcome, nats.errors.MaxPayloadError)
            if held:  # can never be published: the relay goes past it (see HELD)
                error = f"{HELD}the event's {len(payload.encode())} bytes exceed what NATS takes"
            else:
                error = f"{type(outcome).__name__}: {outcome}"[:500]
            await rows(_FAILED, {"id": event_id, "error": error})
            metrics.EVENTS_PUBLISH_FAILED.labels(self.service).inc()
            if held:
                log.error("outbox.event_held", service=self.service, event_id=str(event_id), error=error)
                continue
            # once per interval with a count: NATS down (or electing a leader) for a while
            # would otherwise write a line per attempt
            THROTTLED.warning(
                "outbox.publish_failed",
                key=type(outcome).__name__,
                service=self.service,
                event_id=str(event_id),
                error=error,
            )
            self._left_behind = True  # retried on the next round, soon
        return published

    async def _publish(self, row: Any, traced: bool) -> None:
        event_id, subject, type_, payload, stored_headers, _ = row
        if traced:
            await self._publish_traced(event_id, subject, type_, payload, stored_headers)
        else:  # no span to record: the stored trace context travels on as it is
            await self.publisher.publish_event(
                subject=subject, body=payload.encode(), msg_id=str(event_id), headers=stored_headers
            )

    async def _publish_traced(
        self, event_id: uuid.UUID, subject: str, type_: str, payload: str, stored_headers: dict[str, str]
    ) -> None:
        with _tracer.start_as_current_span(
            f"publish {type_}",
            context=propagate.extract(stored_headers),  # the trace of the request that wrote it
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "messaging.system": "nats",
                "messaging.destination.name": subject,
                "cloudevents.event_id": str(event_id),
            },
        ):
            headers = dict(stored_headers)
            propagate.inject(headers)  # consumers' spans become children of this one
            await self.publisher.publish_event(
                subject=subject, body=payload.encode(), msg_id=str(event_id), headers=headers
            )

    async def backlog(self) -> tuple[int, float]:
        """(pending rows, age in seconds of the oldest) — exported as metrics."""
        async with self.db.read() as session:
            row = (
                await session.execute(
                    sa.text(
                        "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) "
                        "FROM steward_outbox WHERE published_at IS NULL"
                    )
                )
            ).one()
        return int(row[0]), float(row[1])

    async def cleanup(self) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                sa.text("DELETE FROM steward_outbox WHERE published_at < now() - make_interval(secs => :s)"),
                {"s": self.retention.total_seconds()},
            )

    async def _listen(self) -> None:
        try:
            self._listener = await asyncpg.connect(asyncpg_dsn(self.db.url))
            await self._listener.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
        except Exception as exc:  # polling still works without LISTEN
            log.warning("outbox.listen_unavailable", error=str(exc))
            self._listener = None

    async def run(self) -> None:
        await self._listen()
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            self._wake.clear()
            if self._listener is None and loop.time() >= self._listen_retry_at:
                self._listen_retry_at = loop.time() + 30.0
                await self._listen()
            try:
                count, pending = await self.publish_pending(), 0
                if not count or self._left_behind or loop.time() >= self._backlog_at:
                    # while events flow — batches published, as one per commit when filings are
                    # paced — the backlog gauges once a second, not a query per batch (a
                    # transaction: three round trips, about half a query per filing at 150
                    # filings/s). Counted whenever a round published nothing (so the gauges are
                    # fresh when the relay goes idle) or left a row behind (the wait depends on
                    # it); after a round that published, the relay polls briskly whatever is pending
                    pending, age = await self.backlog()
                    metrics.OUTBOX_BACKLOG.labels(self.service).set(pending)
                    metrics.OUTBOX_AGE.labels(self.service).set(age)
                    self._backlog_at = loop.time() + BACKLOG_EVERY
                if loop.time() - self._last_cleanup > 3600:
                    await self.cleanup()
                    self._last_cleanup = loop.time()
            except Exception as exc:
                count, pending = 0, 1
                log.warning("outbox.relay_error", error=str(exc))
            if count >= self.batch_size:
                continue
            wait = self._next_wait(count, pending)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
            if self._wake.is_set():
                self._wait = self.poll_seconds  # woken by a commit: work is about; poll briskly again

    def _next_wait(self, published: int, pending: int) -> float:
        """The base poll after work, or while rows wait (a failing publish) or LISTEN is down;
        otherwise the last wait doubled, up to ``idle_poll_seconds``."""
        listening = self._listener is not None and not self._listener.is_closed()
        if published or pending or not listening:
            self._wait = self.poll_seconds
            if not listening and self._listener is not None:
                self._listener = None  # the LISTEN connection died: reconnect on the next round
            return self.poll_seconds
        wait = self._wait
        self._wait = min(wait * 2, self.idle_poll_seconds)
        return wait

    async def stop(self, *, flush: bool = True) -> None:
        """Stop the loop; with ``flush`` publish what is pending first (graceful shutdown)."""
        self._stopping.set()
        self._wake.set()
        if flush:
            try:
                while await self.publish_pending():
                    pass
            except Exception as exc:
                log.warning("outbox.flush_failed", error=str(exc))
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
