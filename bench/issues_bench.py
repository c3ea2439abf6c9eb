"""Issues service: filing throughput, the overdue sweep exactly-once across two replicas, and the cost
of one timer sweep when a million matters are open and 1% are due.

* Filing: REST ``POST /v1/matters`` against a real issues replica and a real registry (project read
  over gRPC per filing, rules from the client cache), 8 clients.
* Exactly-once: 10,000 matters (bulk-cloned with SQL ``generate_series`` from one matter filed over
  REST, with an ``issues.overdue`` timer each) pass their deadlines; two replicas sweep with batches
  of 250. Counted: ``matter.overdue`` and ``matter.escalated`` events on the bus (distinct matter
  ids) and the history rows per matter in the database.
* Sweep cost: 1,000,000 open matters with 2,000,000 timer rows (deadline + reminder), 1% due. One
  sweep (batch 500) through the kit's ``TimerWorker`` with the issues handlers, then the drain of
  everything due; the due-timer query's plan (index scan on ``due_at``) with its buffer counts.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from bench.common import BenchContext, Row, latency_rows, measure
from steward.issues.app import timer_handlers
from steward.issues.context import IssuesContext
from steward.issues.testing import auth, local, migrate, running_issues
from steward.kit.clients.registry import RegistryClient
from steward.kit.clock import Clock
from steward.kit.db import Database
from steward.kit.timers import TimerWorker
from steward.registry.testing import EventTap, Registry, make_tree

CONCURRENCY = 8
FILED_AT = local(2026, 11, 2, 10)  # Monday; 5 working days → due end of 2026-11-09


def expect(status: int, want: int, body: str) -> None:
    if status != want:
        raise RuntimeError(f"expected HTTP {want}, got {status}: {body[:300]}")


async def _project(reg: Registry, tenant: str) -> str:
    r = await reg.http.post(
        "/v1/projects",
        json={"tenant": tenant, "name": "基准项目", "total_investment": "5000万"},
        headers=reg.auth(tenant, "dispatcher"),
    )
    expect(r.status_code, 201, r.text)
    return str(r.json()["id"])


def _body(project_id: str, i: int) -> dict[str, Any]:
    return {
        "kind": "obstacle",
        "project_id": project_id,
        "title": f"基准问题{i}",
        "category": "utilities",
        "tier": "unit",
    }


async def clone(
    db: Database, template: str, n: int, *, prefix: str, due_sql: str, params: dict[str, Any]
) -> float:
    """Bulk-insert ``n`` copies of matter ``template`` (new id and number, ``due_at`` from ``due_sql``
    over ``g``) plus one ``issues.overdue`` timer each; returns seconds taken."""
    t0 = time.perf_counter()
    async with db.transaction() as s:
        cols = [
            r[0]
            for r in await s.execute(
                sa.text(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = 'matters' "
                    "ORDER BY ordinal_position"
                )
            )
        ]
        custom = {
            "id": "gen_random_uuid()",
            "number": f"'{prefix}' || lpad(g::text, 8, '0')",
            "due_at": due_sql,
            "idempotency_key": "NULL",
        }
        select = ", ".join(custom.get(c, f"t.{c}") for c in cols)
        await s.execute(
            sa.text(
                f"INSERT INTO matters ({', '.join(cols)}) SELECT {select} "
                "FROM matters t, generate_series(1, CAST(:n AS integer)) AS g WHERE t.id = CAST(:tid AS uuid)"
            ),
            {"n": n, "tid": template, **params},
        )
        await s.execute(
            sa.text(
                "INSERT INTO steward_timers (id, kind, key, tenant, due_at, payload, attempts) "
                "SELECT gen_random_uuid(), 'issues.overdue', id::text, tenant_code, due_at, '{}'::jsonb, 0 "
                "FROM matters WHERE number LIKE :p"
            ),
            {"p": prefix + "%"},
        )
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text("ANALYZE matters"))
        await conn.execute(sa.text("ANALYZE steward_timers"))
    return time.perf_counter() - t0


async def bench_filing(ctx: BenchContext, reg: Registry) -> list[Row]:
    tree = await make_tree(reg)
    d = tree.districts[0]
    project = await _project(reg, d)
    url = ctx.database_url("issues_filing")
    await asyncio.to_thread(migrate, url)
    async with running_issues(url, ctx.nats_url, reg.grpc_target, log_level="WARNING") as svc:
        headers = auth(d, "specialist")

        async def file(i: int) -> None:
            r = await svc.http.post("/v1/matters", json=_body(project, i), headers=headers)
            expect(r.status_code, 201, r.text)

        await measure(file, count=16, concurrency=CONCURRENCY)  # warm-up
        n = ctx.scaled(1000, minimum=CONCURRENCY)
        timing = await measure(file, count=n, concurrency=CONCURRENCY)
    note = (
        f"REST POST /v1/matters, {CONCURRENCY} clients; project over gRPC, number, deadline, 2 timers, event"
    )
    return [
        Row("matter filing throughput", timing.rate, "matters/s", f"{note}; n={n}"),
        *latency_rows("matter filing", timing, f"{CONCURRENCY} clients"),
    ]


async def bench_exactly_once(ctx: BenchContext, reg: Registry) -> list[Row]:
    tree = await make_tree(reg)
    d = tree.districts[1]
    project = await _project(reg, d)
    url = ctx.database_url("issues_twice")
    await asyncio.to_thread(migrate, url)
    n = ctx.scaled(10_000, minimum=10)
    clock = Clock()
    clock.set(FILED_AT)
    common: dict[str, Any] = {
        "clock": clock,
        "timer_batch_size": 250,
        "timer_poll_seconds": 0.1,
        "log_level": "WARNING",
    }
    async with (
        running_issues(url, ctx.nats_url, reg.grpc_target, service_name="issues-a", **common) as a,
        running_issues(url, ctx.nats_url, reg.grpc_target, service_name="issues-b", **common),
    ):
        r = await a.http.post("/v1/matters", json=_body(project, 0), headers=auth(d, "specialist"))
        expect(r.status_code, 201, r.text)
        template = r.json()["id"]
        setup = await clone(a.db, template, n, prefix=f"{d}-2026-Z-B", due_sql="t.due_at", params={})
        async with a.db.transaction() as s:  # the template takes no part: only its clones are counted
            await s.execute(sa.text("DELETE FROM steward_timers WHERE key = :k"), {"k": template})
            await s.execute(sa.text("UPDATE matters SET status = 'rejected' WHERE id = :k"), {"k": template})
        clock.advance(timedelta(days=10))  # every deadline and the 2-working-day escalation delay passed
        t0 = time.perf_counter()
        while True:
            async with a.db.read() as s:
                done = (
                    await s.execute(sa.text("SELECT count(*) FROM matters WHERE escalations > 0"))
                ).scalar_one()
            if done >= n:
                break
            if time.perf_counter() - t0 > 600:
                raise RuntimeError(f"only {done} of {n} matters escalated after 600 s")
            await asyncio.sleep(0.2)
        swept = time.perf_counter() - t0
        async with a.db.read() as s:
            per_matter = (
                await s.execute(
                    sa.text(
                        "SELECT count(*) FILTER (WHERE action = 'overdue') AS o, "
                        "count(*) FILTER (WHERE action = 'escalated') AS e FROM matter_history "
                        "WHERE matter_id <> CAST(:t AS uuid) GROUP BY matter_id"
                    ),
                    {"t": template},
                )
            ).all()
        db_exact = sum(1 for row in per_matter if tuple(row) == (1, 1))
        t1 = time.perf_counter()
        while True:  # the relays drain the outbox
            async with a.db.read() as s:
                pending = (
                    await s.execute(sa.text("SELECT count(*) FROM steward_outbox WHERE published_at IS NULL"))
                ).scalar_one()
            if pending == 0 or time.perf_counter() - t1 > 300:
                break
            await asyncio.sleep(0.5)
    tap = EventTap(ctx.nats_url)
    overdue = await tap.collect(f"steward.events.{d}.matter.overdue", expect=n, wait=120)
    escalated = await tap.collect(f"steward.events.{d}.matter.escalated", expect=n, wait=120)
    o_ids = [e["data"]["matter_id"] for e in overdue]
    e_ids = [e["data"]["matter_id"] for e in escalated]
    if not (len(o_ids) == len(set(o_ids)) == n and len(e_ids) == len(set(e_ids)) == n and db_exact == n):
        raise RuntimeError(
            f"exactly-once violated: bus overdue {len(o_ids)}/{len(set(o_ids))}, escalated "
            f"{len(e_ids)}/{len(set(e_ids))}, db exact {db_exact} of {n}"
        )
    note = f"{n:,} matters, 2 replicas, batches of 250"
    return [
        Row("overdue+escalation sweep", swept, "s", f"{note}; {2 * n:,} timers fired; setup {setup:.1f}s"),
        Row("overdue sweep rate", 2 * n / swept if swept else 0.0, "timers/s", note),
        Row(
            "matter.overdue on the bus",
            len(o_ids),
            "events",
            f"distinct matters {len(set(o_ids)):,} of {n:,}",
        ),
        Row(
            "matter.escalated on the bus",
            len(e_ids),
            "events",
            f"distinct matters {len(set(e_ids)):,} of {n:,}",
        ),
        Row("matters with exactly 1 overdue + 1 escalation (DB)", db_exact, "matters", f"of {n:,}"),
    ]


def _buffers(plan: str) -> str:
    m = re.search(r"Buffers: ([^\n]+)", plan)
    return m.group(1).strip() if m else "?"


async def bench_sweep_cost(ctx: BenchContext, reg: Registry) -> list[Row]:
    tree = await make_tree(reg)
    d = tree.districts[2]
    project = await _project(reg, d)
    url = ctx.database_url("issues_sweep")
    await asyncio.to_thread(migrate, url)
    n = ctx.scaled(1_000_000, minimum=1000)
    clock = Clock()
    clock.set(FILED_AT)
    async with running_issues(
        url,
        ctx.nats_url,
        reg.grpc_target,
        timers_enabled=False,
        log_level="WARNING",
        outbox_relay_enabled=False,
        clock=clock,
    ) as svc:
        r = await svc.http.post("/v1/matters", json=_body(project, 0), headers=auth(d, "specialist"))
        expect(r.status_code, 201, r.text)
        template = r.json()["id"]
        settings = svc.runtime.settings
    db = Database(url, pool_size=4)
    now = FILED_AT + timedelta(days=7, hours=12)  # Monday 11-09 22:00: 1% passed their deadline an hour ago
    try:
        async with db.transaction() as s:
            await s.execute(sa.text("DELETE FROM steward_timers"))
        setup = await clone(
            db,
            template,
            n,
            prefix=f"{d}-2026-Z-S",
            due_sql="CASE WHEN g % 100 = 0 THEN CAST(:past AS timestamptz) ELSE CAST(:future AS timestamptz) END",
            params={"past": now - timedelta(hours=1), "future": now + timedelta(days=30)},
        )
        async with db.transaction() as s:  # the template takes no part
            await s.execute(sa.text("DELETE FROM steward_timers WHERE key = :k"), {"k": template})
            await s.execute(sa.text("UPDATE matters SET status = 'rejected' WHERE id = :k"), {"k": template})
        async with db.transaction() as s:  # a reminder timer per open matter as well: 2 timers each
            await s.execute(
                sa.text(
                    "INSERT INTO steward_timers (id, kind, key, tenant, due_at, payload, attempts) "
                    "SELECT gen_random_uuid(), 'issues.reminder', key, tenant, due_at + interval '1 day', '{}'::jsonb, 0 "
                    "FROM steward_timers WHERE kind = 'issues.overdue' AND due_at > :now"
                ),
                {"now": now},
            )
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(sa.text("ANALYZE steward_timers"))
            timers_total = (await conn.execute(sa.text("SELECT count(*) FROM steward_timers"))).scalar_one()
            due = (
                await conn.execute(
                    sa.text("SELECT count(*) FROM steward_timers WHERE due_at <= :now"), {"now": now}
                )
            ).scalar_one()
            plan = "\n".join(
                r[0]
                for r in await conn.execute(
                    sa.text(
                        "EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM steward_timers WHERE due_at <= :now "
                        "AND kind IN ('issues.overdue', 'issues.escalate', 'issues.reminder', 'issues.answer', "
                        "'issues.notice', 'issues.supervision') ORDER BY due_at LIMIT 500 FOR UPDATE SKIP LOCKED"
                    ),
                    {"now": now},
                )
            )
        clock.set(now)
        ictx = IssuesContext(settings=settings, db=db, registry=RegistryClient(settings), clock=clock)
        worker = TimerWorker(db, timer_handlers(ictx), batch_size=500, clock=clock, service="issues-bench")
        t0 = time.perf_counter()
        first = await worker.sweep()
        one = time.perf_counter() - t0
        fired, sweeps = first, 1
        t0 = time.perf_counter()
        while (k := await worker.sweep()) > 0:
            fired += k
            sweeps += 1
        drain = time.perf_counter() - t0 + one
        await ictx.registry.close()
    finally:
        await db.dispose()
    index_used = "Index Scan" in plan and "ix_steward_timers_due_at" in plan
    where = f"{n:,} open matters, {timers_total:,} timer rows, {due:,} due"
    return [
        Row("one sweep (500 due timers)", one * 1000, "ms", f"{where}; fired {first}"),
        Row("drain all due timers", drain, "s", f"{fired:,} fired in {sweeps} sweeps of ≤500"),
        Row(
            "rows touched by the sweep",
            fired,
            "timers",
            f"= due timers ({due:,}); not the {timers_total:,} scheduled",
        ),
        Row("due-timer query buffers", 0.0 if index_used else -1.0, "index scan", _buffers(plan)),
        Row("bulk insert (setup)", setup, "s", f"{n:,} matters + timers via generate_series"),
    ]


async def run(ctx: BenchContext) -> list[Row]:
    rows: list[Row] = []
    async with ctx.run_registry(log_level="WARNING") as reg:
        rows += await bench_filing(ctx, reg)
        rows += await bench_exactly_once(ctx, reg)
        rows += await bench_sweep_cost(ctx, reg)
    return rows
