"""The ``kit`` module's transaction rows (``bench/kit_bench.py`` calls it): a write transaction of
a filing's shape through ``kit.db`` and ``kit.straight``, beside the same statements on a bare
asyncpg connection."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import asyncpg
import sqlalchemy as sa

from bench.common import BenchContext, Row
from steward.kit.db import JSONB, Database, asyncpg_dsn
from steward.kit.straight import begin_now, first_row
from steward.kit.testing import Greenlets

_TX_TABLES = (
    "CREATE TABLE IF NOT EXISTS bench_tx_counter (k text PRIMARY KEY, n int NOT NULL)",
    "CREATE TABLE IF NOT EXISTS bench_tx_row (id uuid PRIMARY KEY, n int NOT NULL, v jsonb NOT NULL)",
)
_TX_COUNT_SQL = (
    "INSERT INTO bench_tx_counter (k, n) VALUES ($1, 1) "
    "ON CONFLICT (k) DO UPDATE SET n = bench_tx_counter.n + 1 RETURNING n"
)
_TX_ROW_SQL = "INSERT INTO bench_tx_row (id, n, v) VALUES ($1, $2, $3) RETURNING id"
_TX_COUNT = sa.text(_TX_COUNT_SQL.replace("$1", ":k"))
_TX_ROW = sa.text(_TX_ROW_SQL.replace("$1", ":id").replace("$2", ":n").replace("$3", ":v")).bindparams(
    sa.bindparam("id", type_=sa.Uuid()), sa.bindparam("v", type_=JSONB)
)


async def bench_transaction(ctx: BenchContext, db: Database) -> list[Row]:
    """A write transaction of a filing's shape through ``kit.db`` (BEGIN sent early as the counter
    queue does, a counter upsert, an INSERT with a JSONB value, commit), one at a time: the bench
    process's CPU per transaction, beside the same transaction on a bare asyncpg connection (the
    driver's own cost: the reference), and the greenlets SQLAlchemy's asyncio layer starts for it
    (each maps and unmaps a fresh frame stack)."""
    n = ctx.scaled(2000, minimum=50)
    async with db.engine.begin() as conn:
        for ddl in _TX_TABLES:
            await conn.execute(sa.text(ddl))

    async def kit_one() -> None:
        async with db.transaction() as session:
            await begin_now(session)
            (k,) = await first_row(session, _TX_COUNT, {"k": "a"})
            await first_row(session, _TX_ROW, {"id": uuid.uuid4(), "n": k, "v": {"k": k}})

    raw = await asyncpg.connect(asyncpg_dsn(db.url))
    await raw.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")

    async def raw_one() -> None:
        async with raw.transaction():
            k = await raw.fetchval(_TX_COUNT_SQL, "b")
            await raw.fetchrow(_TX_ROW_SQL, uuid.uuid4(), k, {"k": k})

    async def cpu_per(one: Any) -> float:
        for _ in range(max(10, n // 10)):  # warm: statement caches, pool
            await one()
        t0 = time.process_time()
        for _ in range(n):
            await one()
        return (time.process_time() - t0) / n * 1e6

    try:
        ours, ref = await cpu_per(kit_one), await cpu_per(raw_one)
        ours2, ref2 = await cpu_per(kit_one), await cpu_per(raw_one)  # alternated: the machine drifts
    finally:
        await raw.close()
    with Greenlets() as counted:
        await kit_one()
    ours, ref = (ours + ours2) / 2, (ref + ref2) / 2
    how = f"{n} transactions one at a time, twice, alternated with the reference; bench process CPU"
    return [
        Row("transaction (BEGIN, 2 statements, commit) CPU", ours, "µs", how),
        Row(
            "transaction reference: bare asyncpg",
            ref,
            "µs",
            "same statements and values, asyncpg.transaction()",
        ),
        Row(
            "transaction reference / kit.db",
            ref / ours if ours else 0.0,
            "ratio",
            "1.0 = no cost over the driver",
        ),
        Row(
            "transaction greenlets",
            len(counted.started),
            "greenlets",
            "kit.testing.Greenlets: 14 before held_connection",
        ),
    ]
