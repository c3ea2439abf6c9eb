"""Scoring service: events scored into ledgers, and a ranking recomputed from a million entries.

* Events: 100,000 events (five kinds, 1,000 agents, one quarter) scored into the ledger by the
  rules engine's batch path (``score_events``: de-duplication rows, the tenant's scorecard rules from
  the registry client's cache, one multi-row insert of the entries, a ``score.recorded`` outbox row
  each), 500 events per transaction on 8 workers;
  and 5,000 through the consumer's handler itself (``EventConsumer.handle``, one transaction per
  event, as JetStream delivers them) against a real registry. Reference: the same three rows and
  the outbox NOTIFY written with plain SQL in one transaction per event, same concurrency, same run — the ratio is
  the service's overhead. The ledger is checked to hold exactly one entry per event.
* Ranking: 1,000 units × 1,000 entries = 1,000,000 ledger entries (``INSERT ... SELECT
  generate_series``); the ranking preview (``rankings.compute``: the ordered aggregate
  ``scoring_clamped_sum`` per unit and dimension in one SQL statement, 扣完为止 and the cap applied
  in event-time order, then competition ranking) p50 over 3 runs, and one ``publish``. One unit's
  total is checked against the pure-Python computation of its entries.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from bench.common import BenchContext, Row, measure
from bench.loadgen import Meter
from bench.procs import infra_pids
from steward.events.envelope import CloudEvent
from steward.kit.auth import Principal, Role
from steward.kit.clients.registry import RegistryClient
from steward.kit.clock import Clock
from steward.kit.db import Database, utcnow
from steward.kit.dedup import ConsumedEvent
from steward.registry.testing import make_tree
from steward.rules.scoring import RankingDef, ScorecardDef
from steward.rules.scoring_presets import ANYANG_AGENT_SCORECARD
from steward.scoring.context import ScoringContext
from steward.scoring.ledger.compute import EntryLike, compute
from steward.scoring.ledger.totals import subject_totals, total_of
from steward.scoring.rankings import service as rankings
from steward.scoring.rules.engine import score_events
from steward.scoring.subscribers import EventConsumer, inbox_key
from steward.scoring.testing import local, migrate, scoring_settings

CONCURRENCY = 8
BATCH = 500
UNIT_CARD: dict[str, Any] = {
    "key": "unit",
    "name_zh": "单位综合考评",
    "subject_kind": "unit",
    "period": "quarter",
    "dimensions": [
        {"key": "progress", "name_zh": "项目推进", "max_points": "60"},
        {"key": "service", "name_zh": "服务保障", "max_points": "40"},
    ],
    "rules": [],
}
RANKING: dict[str, Any] = {
    "key": "units",
    "name_zh": "单位排名",
    "subject_kind": "unit",
    "scorecard": "unit",
    "period": "quarter",
    "consequences": [{"position": "last", "consecutive": 2, "actions": ["admonition"]}],
}
KINDS: list[tuple[str, dict[str, Any]]] = [
    ("attendance.late", {}),
    ("attendance.absent", {}),
    ("procedure.assisted_completed", {}),
    ("procedure.incomplete_at_period_end", {"key_level": "city", "difficulty": "easy"}),
    ("matter.rated", {"kind": "procedure", "rating": 2}),
]


def _event(i: int, tenant: str) -> CloudEvent:
    short, data = KINDS[i % len(KINDS)]
    agent = f"agent-{i % 1000}"
    return CloudEvent(
        id=str(uuid.UUID(int=i + 1)),
        source="/bench",
        type=f"steward.{short}.v1",
        time=local(2026, 8, 1 + (i % 28), 9),
        tenant=tenant,
        # matter.rated names nobody: the agent comes from the matter's assignment (kept per matter)
        data={"agent": agent, "matter_id": f"m-{i}", **data}
        if short != "matter.rated"
        else {"matter_id": f"m-{i}", "responsible_person": agent, **data},
    )


async def _events(ctx: BenchContext, n: int, n_consumer: int) -> list[Row]:
    async with ctx.run_registry() as reg:
        tree = await make_tree(
            reg,
            rules={"city": {"scorecards": {"definitions": [ANYANG_AGENT_SCORECARD]}}},
        )
        url = ctx.database_url("scoring")
        await asyncio.to_thread(migrate, url)
        settings = scoring_settings(url, ctx.nats_url, reg.grpc_target, database_pool_size=CONCURRENCY)
        db = Database(url, pool_size=CONCURRENCY)
        registry = RegistryClient(settings)
        consumer = EventConsumer(ScoringContext(settings=settings, db=db, registry=registry, clock=Clock()))
        tenant = tree.districts[0]
        await consumer.handle(_event(0, tenant))  # warm the rules cache
        try:
            statements = 0

            def seen(*_: Any) -> None:  # this engine serves the consumer alone: every statement is its
                nonlocal statements
                statements += 1

            meter = Meter({"bench process": (os.getpid(), False), **infra_pids(ctx)})
            sa.event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
            meter.start()
            try:
                one = await measure(
                    lambda i: consumer.handle(_event(i + 1, tenant)),
                    count=n_consumer,
                    concurrency=CONCURRENCY,
                )
            finally:
                used = meter.stop()
                sa.event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
            reference = await _reference(db, n_consumer)
            rules = await registry.rules(tenant)
            path = "/".join(await registry.ancestry_codes(tenant))
            base = n_consumer + 1
            batches = (n + BATCH - 1) // BATCH

            async def batch(b: int) -> None:
                events = [_event(i, tenant) for i in range(base + b * BATCH, base + min(n, (b + 1) * BATCH))]
                async with db.transaction() as s:
                    # de-duplication rows for the whole batch in one statement, then the new events
                    seen = await s.execute(
                        insert(ConsumedEvent)
                        .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
                        .returning(col(ConsumedEvent.event_id)),
                        [
                            {"consumer": "scoring", "event_id": inbox_key(e.id), "received_at": utcnow()}
                            for e in events
                        ],
                    )
                    new = {r[0] for r in seen.all()}
                    fresh = [e for e in events if inbox_key(e.id) in new]
                    await score_events(s, events=fresh, rules=rules, path=path, now=utcnow())

            many = await measure(batch, count=batches, concurrency=CONCURRENCY)
            async with db.read() as s:
                entries = (
                    await s.execute(sa.text("SELECT count(*) FROM scoring_entries WHERE rule <> 'r'"))
                ).scalar_one()
            if entries != base + n:
                raise RuntimeError(f"expected {base + n} ledger entries, found {entries}")
        finally:
            await registry.close()
            await db.dispose()
    rate = n / many.wall if many.wall > 0 else 0.0
    return [
        Row(
            "events scored into ledgers",
            rate,
            "events/s",
            f"n={n}, {BATCH} events per tx, {CONCURRENCY} workers",
        ),
        Row("events scored into ledgers, wall", many.wall, "s", f"n={n}"),
        Row("consumer path, 1 tx per event", one.rate, "events/s", f"n={n_consumer}, {CONCURRENCY} workers"),
        Row(
            "consumer path statements",
            statements / n_consumer,
            "per event",
            "SQL sent per event (BEGIN and COMMIT extra)",
        ),
        *(
            Row(f"consumer path CPU {k}", 1000 * v / n_consumer, "ms/event", "1 tx per event, /proc")
            for k, v in used.items()
        ),
        Row(
            "reference: same rows, plain SQL",
            reference,
            "events/s",
            "inbox + entry + outbox + NOTIFY, 1 tx per event",
        ),
        Row(
            "consumer path / reference",
            one.rate / reference if reference else 0.0,
            "ratio",
            "higher is better",
        ),
    ]


async def _reference(db: Database, n: int) -> float:
    sql = [
        sa.text("INSERT INTO steward_inbox (consumer, event_id, received_at) VALUES ('ref', :id, now())"),
        sa.text(
            "INSERT INTO scoring_entries (id, tenant, tenant_path, scorecard, period, subject_kind, subject_id, "
            "dimension, points, rule, source, source_type, reason_zh, occurred_at, recorded_at, attributes) VALUES "
            "(:id, 'x', 'x', 'ref', '2026-Q3', 'agent', 'a', 'discipline', -1, 'r', :src, 't', '理由', now(), now(), '{}')"
        ),
        sa.text(
            "INSERT INTO steward_outbox (id, subject, type, tenant, payload, headers, created_at, attempts) "
            "VALUES (:id, 's', 't', 'x', '{}', '{}', now(), 0)"
        ),
        sa.text("SELECT pg_notify('steward_outbox_ref', '')"),  # the outbox wake-up, as emit() does
    ]

    async def op(i: int) -> None:
        async with db.transaction() as s:
            params = {"id": uuid.uuid4(), "src": str(i)}
            for stmt in sql:
                await s.execute(stmt, params)

    timing = await measure(op, count=n, concurrency=CONCURRENCY)
    return timing.rate


async def _ranking(ctx: BenchContext, units: int, per_unit: int) -> list[Row]:
    url = ctx.database_url("scoring_rank")
    await asyncio.to_thread(migrate, url)
    db = Database(url, pool_size=4)
    card = ScorecardDef.model_validate(UNIT_CARD)
    definition = RankingDef.model_validate(RANKING)
    path = "999900/999901"
    try:
        t0 = time.perf_counter()
        async with db.transaction() as s:
            await s.execute(
                sa.text(
                    "INSERT INTO scoring_entries (id, tenant, tenant_path, scorecard, period, subject_kind, subject_id, "
                    "dimension, points, rule, source, source_type, reason_zh, occurred_at, recorded_at, attributes) "
                    "SELECT gen_random_uuid(), '999901', :path, 'unit', '2026-Q3', 'unit', 'u' || (g % :units), "
                    "CASE WHEN g % 3 = 0 THEN 'service' ELSE 'progress' END, "
                    "CASE WHEN g % 7 = 0 THEN 0.5 ELSE -0.25 END, 'r' || (g % 5), 'e' || g, 'bench', '基准', "
                    "timestamptz '2026-07-01' + make_interval(secs => g % 7000000), now(), '{}' "
                    "FROM generate_series(1, :n) AS g"
                ),
                {"path": path, "units": units, "n": units * per_unit},
            )
        async with db.transaction() as s:
            await s.execute(sa.text("ANALYZE scoring_entries"))
        setup = time.perf_counter() - t0
        samples: list[float] = []
        for _ in range(3):
            t0 = time.perf_counter()
            async with db.read() as s:
                rows = await rankings.compute(
                    s, definition=definition, card=card, tenant="999901", path=path, period="2026-Q3"
                )
            samples.append(time.perf_counter() - t0)
        if len(rows) != units:
            raise RuntimeError(f"expected {units} ranked units, got {len(rows)}")
        admin = Principal(subject="bench", tenant="999901", roles=frozenset({Role.TENANT_ADMIN}))
        t0 = time.perf_counter()
        async with db.transaction() as s:
            await rankings.publish(
                s,
                principal=admin,
                definition=definition,
                card=card,
                tenant="999901",
                path=path,
                period="2026-Q3",
                now=local(2026, 10, 8, 9),
            )
        publish = time.perf_counter() - t0
        # the set-based SQL agrees with the pure computation for one unit
        async with db.read() as s:
            raw = (
                await s.execute(
                    sa.text(
                        "SELECT id, dimension, points, occurred_at, source, rule FROM scoring_entries "
                        "WHERE subject_id = 'u7'"
                    )
                )
            ).all()
            sql_totals = await subject_totals(s, card=card, path=path, period="2026-Q3")
        pure = compute(card, [EntryLike(r[0], r[1], Decimal(r[2]), r[3], r[4], r[5]) for r in raw])
        if pure.total != total_of(sql_totals["u7"]):
            raise RuntimeError(f"SQL total {total_of(sql_totals['u7'])} != pure total {pure.total}")
    finally:
        await db.dispose()
    samples.sort()
    n = units * per_unit
    return [
        Row("ranking recompute p50", samples[len(samples) // 2] * 1000, "ms", f"{units} units, {n} entries"),
        Row("ranking publish", publish * 1000, "ms", f"{units} units, {n} entries, consequences"),
        Row("ranking setup (insert + analyze)", setup, "s", f"{n} entries, context only"),
    ]


async def run(ctx: BenchContext) -> list[Row]:
    rows = await _events(ctx, ctx.scaled(100_000, minimum=100), ctx.scaled(5_000, minimum=50))
    rows += await _ranking(ctx, ctx.scaled(1_000, minimum=10), 1_000 if ctx.scale >= 0.1 else 100)
    return rows
