"""Platform kit: outbox relay, timer sweep and event consumer, on the runner's PostgreSQL and NATS.

- Outbox: 20,000 events emitted with :func:`steward.kit.outbox.emit` then drained by a running
  :class:`OutboxRelay` (emit → JetStream ack, events/s); then events emitted one per transaction by
  8 writers while the relay runs (LISTEN/NOTIFY wake-up): commit → ack latency.
- Timers: 1,000,000 scheduled timers of which 1% are due (``INSERT ... SELECT generate_series``);
  EXPLAIN (ANALYZE, BUFFERS) of the sweep query, the time of each :meth:`TimerWorker.sweep` batch
  until nothing is due, and the cost of a sweep when nothing is due.
- Consumer: events through :meth:`EventBus.subscribe` (durable pull consumer, manual acks) with an
  inbox row per event (:func:`steward.kit.dedup.first_delivery`) in the handler's transaction.
- Transaction: a write transaction of a filing's shape through ``kit.db`` one at a time (CPU per
  transaction of the bench process) beside the same statements on a bare asyncpg connection, and
  the greenlets SQLAlchemy's asyncio layer starts for it.

Each run uses its own database, JetStream stream and subject prefix, removed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any, ClassVar

import sqlalchemy as sa
from nats.js.errors import NotFoundError
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from bench.common import BenchContext, Row, Timing, latency_rows, measure
from bench.kit_transaction import bench_transaction
from steward.events.envelope import CloudEvent, EventData
from steward.kit.bus import EventBus
from steward.kit.db import Database
from steward.kit.dedup import ConsumedEvent, first_delivery
from steward.kit.outbox import OutboxEvent, OutboxRelay, build_event, emit
from steward.kit.settings import ServiceSettings
from steward.kit.timers import DueTimer, TimerWorker

TENANT = "210112"
WRITERS = 8
EMIT_BATCH = 200
KIT_TABLES = (OutboxEvent, ConsumedEvent, DueTimer)
PACED_RATE = 100  # events/s offered in the latency phase


class BenchPinged(EventData):
    """Benchmark-only event (never in the catalog): ``<prefix>.<tenant>.benchping.pinged``."""

    aggregate: ClassVar[str] = "benchping"
    event: ClassVar[str] = "pinged"

    n: int


class AckClock:
    """A publisher wrapping the bus: records when each event was acknowledged by JetStream."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.acked: dict[str, float] = {}
        self.target = 0
        self.done = asyncio.Event()

    def expect(self, total: int) -> None:
        self.target = total
        self.done.clear()
        if len(self.acked) >= total:
            self.done.set()

    async def publish_event(self, *, subject: str, body: bytes, msg_id: str, headers: dict[str, str]) -> None:
        await self.bus.publish_event(subject=subject, body=body, msg_id=msg_id, headers=headers)
        self.acked.setdefault(msg_id, time.perf_counter())
        if self.target and len(self.acked) >= self.target:
            self.done.set()


# --------------------------------------------------------------------------- outbox


async def bench_outbox(ctx: BenchContext, db: Database, bus: EventBus) -> list[Row]:
    prefix = bus.settings.events_subject_prefix
    clock = AckClock(bus)
    relay = OutboxRelay(
        db, clock, batch_size=bus.settings.outbox_batch_size, poll_seconds=0.2, service="bench"
    )

    # 1. a backlog written with emit() (several events per transaction), then drained by the relay
    n = ctx.scaled(20_000, minimum=EMIT_BATCH)
    t0 = time.perf_counter()
    for start in range(0, n, EMIT_BATCH):
        async with db.transaction() as session:
            for i in range(start, min(n, start + EMIT_BATCH)):
                await emit(session, BenchPinged(n=i), tenant=TENANT, source="bench", subject_prefix=prefix)
    emit_batched = n / (time.perf_counter() - t0)

    clock.expect(n)
    t0 = time.perf_counter()
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.wait_for(clock.done.wait(), timeout=600)
        drain = time.perf_counter() - t0

        # 2. live, relay running: 8 writers, one event per transaction, as fast as they can ...
        m = ctx.scaled(2_000, minimum=WRITERS)
        committed: dict[str, float] = {}

        async def write(i: int) -> None:
            async with db.transaction() as session:
                event = await emit(
                    session, BenchPinged(n=n + i), tenant=TENANT, source="bench", subject_prefix=prefix
                )
            committed[event.id] = time.perf_counter()

        clock.expect(n + m)
        writes = await measure(write, count=m, concurrency=WRITERS)
        await asyncio.wait_for(clock.done.wait(), timeout=120)

        # 3. ... then paced well below capacity: commit → ack latency of the NOTIFY wake-up path,
        # not the queueing of a saturated process
        p = ctx.scaled(PACED_RATE * 5, minimum=WRITERS)
        committed.clear()
        paced_from = time.perf_counter()

        async def paced(i: int) -> None:
            await asyncio.sleep(max(0.0, paced_from + i / PACED_RATE - time.perf_counter()))
            await write(m + i)

        clock.expect(n + m + p)
        await measure(paced, count=p, concurrency=WRITERS)
        await asyncio.wait_for(clock.done.wait(), timeout=120)
    finally:
        await relay.stop(flush=False)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    in_stream = (await bus.js.stream_info(bus.settings.events_stream)).state.messages
    if in_stream != n + m + p:
        raise RuntimeError(f"stream holds {in_stream} messages, expected {n + m + p}")
    e2e = Timing(samples=[max(0.0, clock.acked[eid] - t) for eid, t in committed.items()])
    return [
        Row(
            "outbox emit, batched", emit_batched, "events/s", f"emit() x{EMIT_BATCH} per transaction; n={n:,}"
        ),
        Row(
            "outbox relay drain",
            n / drain,
            "events/s",
            f"backlog of {n:,}: claim (SKIP LOCKED) → JetStream publish + ack → mark published",
        ),
        Row(
            "outbox emit, 1 per transaction",
            writes.rate,
            "events/s",
            f"{WRITERS} writers, relay running; n={m:,}",
        ),
        *latency_rows(
            "outbox commit→ack", e2e, f"paced {PACED_RATE} events/s, 1 per transaction; LISTEN/NOTIFY wake-up"
        ),
    ]


# --------------------------------------------------------------------------- timers

INSERT_TIMERS = sa.text(
    """
    INSERT INTO steward_timers (id, kind, key, tenant, due_at, payload, attempts, last_error)
    SELECT gen_random_uuid(), 'bench', 'timer-' || g, :tenant,
           CASE WHEN g % 100 = 0 THEN now() - make_interval(secs => g % 86400)
                ELSE now() + make_interval(secs => 3600 + g) END,
           jsonb_build_object('n', g), 0, NULL
    FROM generate_series(1, CAST(:n AS integer)) AS g
    """
)

# The query of TimerWorker.sweep (steward/kit/timers.py), spelled out for EXPLAIN.
SWEEP_SQL = """
    SELECT * FROM steward_timers
    WHERE due_at <= now() AND kind IN ('bench')
    ORDER BY due_at
    LIMIT {limit}
    FOR UPDATE SKIP LOCKED
"""


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    out = [plan]
    for child in plan.get("Plans", []):
        out += _nodes(child)
    return out


async def explain_sweep(db: Database, limit: int) -> dict[str, Any]:
    async with db.read() as session:  # rolled back: the row locks are released
        result = await session.execute(
            sa.text("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)" + SWEEP_SQL.format(limit=int(limit)))
        )
        doc = result.scalar_one()
    top = doc[0]
    plan = top["Plan"]
    scans = [p for p in _nodes(plan) if "Scan" in p["Node Type"]]
    scan = scans[0] if scans else plan
    return {
        "ms": float(top["Execution Time"]),
        "scan": f"{scan['Node Type']}" + (f" using {scan['Index Name']}" if "Index Name" in scan else ""),
        "rows": int(scan.get("Actual Rows", 0)) + int(scan.get("Rows Removed by Filter", 0)),
        "buffers": int(plan.get("Shared Hit Blocks", 0)) + int(plan.get("Shared Read Blocks", 0)),
    }


async def bench_timers(ctx: BenchContext, db: Database) -> list[Row]:
    total = ctx.scaled(1_000_000, minimum=1_000)
    due = total // 100
    batch = 500
    t0 = time.perf_counter()
    async with db.transaction() as session:
        await session.execute(INSERT_TIMERS, {"n": total, "tenant": TENANT})
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text("VACUUM ANALYZE steward_timers"))
    setup = time.perf_counter() - t0

    plan = await explain_sweep(db, batch)

    async def fire(session: AsyncSession, timer: DueTimer) -> None:
        return None  # fired: the worker deletes the row

    worker = TimerWorker(db, {"bench": fire}, batch_size=batch, service="bench")
    batches = Timing()
    fired = 0
    t0 = time.perf_counter()
    for _ in range(due // batch + 2):  # bounded: enough batches for every due timer, then one empty
        t1 = time.perf_counter()
        handled = await worker.sweep()
        if handled == 0:
            break
        batches.samples.append(time.perf_counter() - t1)
        fired += handled
    batches.wall = time.perf_counter() - t0
    if fired != due:
        raise RuntimeError(f"fired {fired} timers, expected {due}")

    async def idle(_: int) -> None:
        if await worker.sweep():
            raise RuntimeError("a timer fired after every due timer was handled")

    empty = await measure(idle, count=ctx.scaled(50, minimum=5))
    scheduled = f"{total:,} scheduled, {due:,} due"
    return [
        Row(
            "timer sweep query (EXPLAIN ANALYZE)",
            plan["ms"],
            "ms",
            f"LIMIT {batch} FOR UPDATE SKIP LOCKED; {plan['scan']}; {scheduled}",
        ),
        Row("timer sweep rows touched", plan["rows"], "rows", f"scan node rows for one batch of {batch}"),
        Row("timer sweep buffers", plan["buffers"], "pages", "shared hit+read (8 KiB) for one batch"),
        *latency_rows(
            "timer sweep batch", batches, f"batches of up to {batch}: claim, fire (savepoint), delete"
        ),
        Row("timers fired", fired / batches.wall if batches.wall else 0.0, "timers/s", f"{scheduled}"),
        Row("timer sweep, nothing due p50", empty.ms(50), "ms", f"{total - due:,} scheduled in the future"),
        Row("timer setup (insert + vacuum analyze)", setup, "s", f"{total:,} rows via generate_series"),
    ]


# --------------------------------------------------------------------------- consumer


async def bench_consumer(ctx: BenchContext, db: Database, bus: EventBus) -> list[Row]:
    settings = bus.settings
    k = ctx.scaled(5_000, minimum=20)
    tenant = f"c{uuid.uuid4().hex[:8]}"
    subject = BenchPinged.subject_for(tenant, settings.events_subject_prefix)
    consumer = f"bench_{uuid.uuid4().hex[:8]}"

    for start in range(0, k, 100):  # published straight to JetStream, 100 in flight at a time
        events = [
            build_event(BenchPinged(n=i), tenant=tenant, source="bench")
            for i in range(start, min(k, start + 100))
        ]
        await asyncio.gather(
            *(
                bus.publish_event(subject=subject, body=e.model_dump_json().encode(), msg_id=e.id, headers={})
                for e in events
            )
        )

    handled = 0
    done = asyncio.Event()

    async def handle(event: CloudEvent) -> None:
        nonlocal handled
        async with db.transaction() as session:
            if await first_delivery(session, consumer=consumer, event_id=event.id):
                handled += 1
        if handled >= k:
            done.set()

    consumer_bus = EventBus(settings)
    consumer_bus.subscribe(subject, consumer=consumer, handler=handle)
    t0 = time.perf_counter()
    await consumer_bus.start()
    try:
        await asyncio.wait_for(done.wait(), timeout=600)
        wall = time.perf_counter() - t0
    finally:
        await consumer_bus.stop()
        with contextlib.suppress(NotFoundError):
            await bus.js.delete_consumer(settings.events_stream, consumer)
    async with db.read() as session:
        stmt = sa.text("SELECT count(*) FROM steward_inbox WHERE consumer = :c")
        rows = (await session.execute(stmt, {"c": consumer})).scalar_one()
    if rows != k:
        raise RuntimeError(f"inbox holds {rows} rows, expected {k}")
    return [
        Row(
            "consumer throughput",
            k / wall,
            "events/s",
            f"EventBus.subscribe pull consumer, manual ack, inbox row per event in its transaction; n={k:,}",
        )
    ]


# --------------------------------------------------------------------------- entry point


async def run(ctx: BenchContext) -> list[Row]:
    suffix = uuid.uuid4().hex[:8]
    settings = ServiceSettings(
        nats_url=ctx.nats_url,
        service_name="bench-kit",
        events_stream=f"BENCH_EVENTS_{suffix}",
        events_subject_prefix=f"bench{suffix}.events",
        events_max_bytes=512 * 1024**2,
    )
    db = Database(ctx.database_url("kit"), pool_size=WRITERS + 2)
    async with db.engine.begin() as conn:
        await conn.run_sync(
            lambda c: SQLModel.metadata.create_all(
                c,
                tables=[SQLModel.metadata.tables[t.__tablename__] for t in KIT_TABLES],
            )
        )
    bus = EventBus(settings)
    await bus.connect()
    rows: list[Row] = []
    try:
        rows += await bench_outbox(ctx, db, bus)
        rows += await bench_consumer(ctx, db, bus)
        rows += await bench_timers(ctx, db)
        rows += await bench_transaction(ctx, db)
    finally:
        with contextlib.suppress(Exception):
            await bus.js.delete_stream(settings.events_stream)
        await bus.stop()
        await db.dispose()
    return rows
