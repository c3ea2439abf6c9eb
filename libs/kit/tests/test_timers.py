"""Due timers claimed with FOR UPDATE SKIP LOCKED (docs/architecture.md)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit import audit
from steward.kit.audit import AuditEntry
from steward.kit.db import Database
from steward.kit.timers import DueTimer, Rearm, TimerWorker, cancel, schedule

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def clock() -> datetime:
    return NOW


async def all_timers(db: Database) -> dict[tuple[str, str], DueTimer]:
    async with db.transaction() as session:
        rows = (await session.execute(sa.select(DueTimer))).scalars()
        return {(t.kind, t.key): t for t in rows}


async def bulk_insert(db: Database, rows: list[dict[str, Any]]) -> None:
    async with db.transaction() as session:
        for start in range(0, len(rows), 5000):
            await session.execute(sa.insert(DueTimer), rows[start : start + 5000])


def timer_row(kind: str, key: str, due_at: datetime) -> dict[str, Any]:
    from steward.kit.ids import new_id

    return {"id": new_id(), "kind": kind, "key": key, "tenant": "210112", "due_at": due_at, "payload": {}}


async def test_schedule_is_idempotent_and_moves_the_due_time(db: Database) -> None:
    async with db.transaction() as session:
        await schedule(session, kind="remind", key="m-1", tenant="210112", due_at=NOW, payload={"v": 1})
    first = (await all_timers(db))[("remind", "m-1")]
    later = NOW + timedelta(days=2)
    async with db.transaction() as session:
        await schedule(session, kind="remind", key="m-1", tenant="210113", due_at=later, payload={"v": 2})
        await schedule(session, kind="overdue", key="m-1", tenant="210112", due_at=NOW)  # other kind
    timers = await all_timers(db)
    assert len(timers) == 2
    moved = timers[("remind", "m-1")]
    assert moved.id == first.id
    assert moved.due_at == later
    assert moved.payload == {"v": 2}
    assert moved.tenant == "210113"
    assert timers[("overdue", "m-1")].payload == {}


async def test_cancel_removes_only_that_timer(db: Database) -> None:
    async with db.transaction() as session:
        await schedule(session, kind="remind", key="a", tenant="t", due_at=NOW)
        await schedule(session, kind="remind", key="b", tenant="t", due_at=NOW)
    async with db.transaction() as session:
        await cancel(session, kind="remind", key="a")
        await cancel(session, kind="remind", key="missing")  # cancelling nothing is fine
    assert set(await all_timers(db)) == {("remind", "b")}


async def test_sweep_fires_only_due_timers_and_deletes_them(db: Database) -> None:
    fired: list[tuple[str, dict[str, Any]]] = []

    async def on_remind(session: AsyncSession, timer: DueTimer) -> None:
        fired.append((timer.key, timer.payload))

    async with db.transaction() as session:
        await schedule(
            session, kind="remind", key="past", tenant="t", due_at=NOW - timedelta(hours=1), payload={"x": 1}
        )
        await schedule(session, kind="remind", key="now", tenant="t", due_at=NOW)
        await schedule(session, kind="remind", key="future", tenant="t", due_at=NOW + timedelta(seconds=1))
        await schedule(session, kind="unhandled", key="past", tenant="t", due_at=NOW - timedelta(days=1))

    worker = TimerWorker(db, {"remind": on_remind}, clock=clock)
    assert await worker.sweep() == 2
    assert fired == [("past", {"x": 1}), ("now", {})]  # oldest first
    assert set(await all_timers(db)) == {("remind", "future"), ("unhandled", "past")}
    assert await worker.sweep() == 0
    assert len(fired) == 2


async def test_handler_work_commits_with_the_timer(db: Database) -> None:
    async def on_escalate(session: AsyncSession, timer: DueTimer) -> None:
        await audit.record(
            session,
            actor="system",
            tenant=timer.tenant,
            action="escalate",
            entity="matter",
            entity_id=timer.key,
            changes={"level": [1, 2]},
        )

    async with db.transaction() as session:
        await schedule(session, kind="escalate", key="m-9", tenant="210112", due_at=NOW)
    assert await TimerWorker(db, {"escalate": on_escalate}, clock=clock).sweep() == 1
    async with db.transaction() as session:
        entries = list((await session.execute(sa.select(AuditEntry))).scalars())
        assert [(e.action, e.entity_id, e.changes) for e in entries] == [
            ("escalate", "m-9", {"level": [1, 2]})
        ]
    assert await all_timers(db) == {}


async def test_rearm_fires_again_later(db: Database) -> None:
    fired: list[int] = []

    async def on_remind(session: AsyncSession, timer: DueTimer) -> Rearm | None:
        n = timer.payload.get("n", 0)
        fired.append(n)
        return Rearm(due_at=timer.due_at + timedelta(days=1), payload={"n": n + 1}) if n < 2 else None

    async with db.transaction() as session:
        await schedule(session, kind="remind", key="r", tenant="t", due_at=NOW)
    now = NOW
    worker = TimerWorker(db, {"remind": on_remind}, clock=lambda: now)
    assert await worker.sweep() == 1
    timer = (await all_timers(db))[("remind", "r")]
    assert timer.due_at == NOW + timedelta(days=1)
    assert timer.payload == {"n": 1}
    assert await worker.sweep() == 0, "re-armed for tomorrow: not due again today"
    now = NOW + timedelta(days=1)
    assert await worker.sweep() == 1
    now = NOW + timedelta(days=2)
    assert await worker.sweep() == 1
    assert fired == [0, 1, 2]
    assert await all_timers(db) == {}


async def test_failing_handler_keeps_the_timer_with_backoff_and_does_not_block_others(db: Database) -> None:
    fired: list[str] = []
    broken = {"bad"}

    async def on_remind(session: AsyncSession, timer: DueTimer) -> None:
        # the handler's own writes must roll back with it (savepoint)
        await audit.record(
            session, actor="system", tenant="t", action="remind", entity="m", entity_id=timer.key
        )
        await session.flush()
        if timer.key in broken:
            raise RuntimeError("smtp down")
        fired.append(timer.key)

    async with db.transaction() as session:
        await schedule(session, kind="remind", key="bad", tenant="t", due_at=NOW - timedelta(minutes=2))
        await schedule(session, kind="remind", key="good", tenant="t", due_at=NOW - timedelta(minutes=1))

    now = NOW
    worker = TimerWorker(db, {"remind": on_remind}, clock=lambda: now)
    assert await worker.sweep() == 2
    assert fired == ["good"]
    timers = await all_timers(db)
    assert set(timers) == {("remind", "bad")}
    bad = timers[("remind", "bad")]
    assert bad.attempts == 1
    assert bad.last_error == "RuntimeError: smtp down"
    assert bad.due_at == NOW + timedelta(seconds=2)
    async with db.transaction() as session:
        ids = sorted((await session.execute(sa.select(AuditEntry.entity_id))).scalars())
    assert ids == ["good"], "the failed handler's writes must be rolled back"

    assert await worker.sweep() == 0, "backing off: not retried before its new due time"
    now = NOW + timedelta(seconds=2)
    assert await worker.sweep() == 1  # fails again, longer backoff
    bad = (await all_timers(db))[("remind", "bad")]
    assert bad.attempts == 2 and bad.due_at == now + timedelta(seconds=4)

    broken.clear()
    now = now + timedelta(seconds=4)
    assert await worker.sweep() == 1
    assert fired == ["good", "bad"]
    assert await all_timers(db) == {}


async def test_two_workers_fire_each_timer_exactly_once(db: Database, db_url: str) -> None:
    due = NOW - timedelta(minutes=5)
    await bulk_insert(
        db, [timer_row("deadline", f"k{i:04d}", due + timedelta(milliseconds=i)) for i in range(2000)]
    )
    calls: Counter[str] = Counter()
    per_worker: Counter[str] = Counter()
    started = {"a": asyncio.Event(), "b": asyncio.Event()}

    def handler_for(name: str) -> Any:
        async def handler(session: AsyncSession, timer: DueTimer) -> None:
            calls[timer.key] += 1
            per_worker[name] += 1
            if per_worker[name] == 1:
                # hold this worker's claimed batch until the other worker has claimed its own: with
                # SKIP LOCKED it takes other rows; a blocking FOR UPDATE would deadlock here
                started[name].set()
                await asyncio.wait_for(asyncio.gather(*(e.wait() for e in started.values())), timeout=10)
            await asyncio.sleep(0)

        return handler

    other = Database(db_url, pool_size=2)
    try:
        workers = [
            TimerWorker(db, {"deadline": handler_for("a")}, batch_size=150, clock=clock),
            TimerWorker(other, {"deadline": handler_for("b")}, batch_size=150, clock=clock),
        ]

        async def drain(worker: TimerWorker) -> int:
            total = 0
            while n := await worker.sweep():
                total += n
            return total

        totals = await asyncio.wait_for(asyncio.gather(*(drain(w) for w in workers)), timeout=60)
    finally:
        await other.dispose()

    twice = [k for k, c in calls.items() if c != 1]
    assert not twice, f"{len(twice)} timers fired more than once, e.g. {twice[:5]}"
    assert len(calls) == 2000
    assert sum(totals) == 2000
    assert per_worker["a"] > 0 and per_worker["b"] > 0
    async with db.read() as session:
        assert (await session.execute(sa.select(sa.func.count()).select_from(DueTimer))).scalar_one() == 0


async def test_sweep_touches_only_due_rows_among_many_future_ones(db: Database) -> None:
    rows = [timer_row("deadline", f"future-{i}", NOW + timedelta(minutes=1 + i)) for i in range(20_000)]
    rows += [timer_row("deadline", f"due-{i}", NOW - timedelta(minutes=i)) for i in range(10)]
    await bulk_insert(db, rows)
    async with db.engine.begin() as conn:
        await conn.execute(sa.text("ANALYZE steward_timers"))

    # the sweep's statement, as TimerWorker.sweep builds it
    stmt = (
        sa.select(DueTimer)
        .where(DueTimer.due_at <= NOW, DueTimer.kind.in_(["deadline"]))  # type: ignore[arg-type,attr-defined]
        .order_by(DueTimer.due_at)  # type: ignore[arg-type]
        .limit(500)
        .with_for_update(skip_locked=True)
    )
    compiled = stmt.compile(db.engine, compile_kwargs={"literal_binds": True})
    async with db.engine.connect() as conn:
        plan_json = (await conn.execute(sa.text(f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled}"))).scalar_one()
        await conn.rollback()
    plan = (json.loads(plan_json) if isinstance(plan_json, str) else plan_json)[0]["Plan"]

    def nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
        return [node, *(n for child in node.get("Plans", []) for n in nodes(child))]

    scans = [n for n in nodes(plan) if n.get("Relation Name") == "steward_timers"]
    assert scans, plan
    assert all(n["Node Type"] != "Seq Scan" for n in scans), f"sweep scans the whole table: {scans}"
    assert any(n.get("Index Name") == "ix_steward_timers_due_at" for n in scans), scans
    assert all(n["Actual Rows"] <= 10 for n in scans), "the sweep read more rows than are due"

    fired: list[str] = []

    async def handler(session: AsyncSession, timer: DueTimer) -> None:
        fired.append(timer.key)

    assert await TimerWorker(db, {"deadline": handler}, clock=clock).sweep() == 10
    assert sorted(fired) == sorted(f"due-{i}" for i in range(10))
    async with db.read() as session:
        left = (await session.execute(sa.select(sa.func.count()).select_from(DueTimer))).scalar_one()
    assert left == 20_000


async def test_run_loop_fires_and_stops(db: Database) -> None:
    fired = asyncio.Event()

    async def handler(session: AsyncSession, timer: DueTimer) -> None:
        fired.set()

    worker = TimerWorker(db, {"remind": handler}, poll_seconds=0.05)
    task = asyncio.create_task(worker.run())
    try:
        async with db.transaction() as session:
            await schedule(
                session, kind="remind", key="x", tenant="t", due_at=datetime.now(UTC) - timedelta(seconds=1)
            )
        await asyncio.wait_for(fired.wait(), timeout=5)
    finally:
        await worker.stop()
        await asyncio.wait_for(task, timeout=5)
    assert task.done() and task.exception() is None


def test_handlers_see_the_firing_workers_clock() -> None:
    """``timers.now()`` is the firing worker's clock inside a sweep (tests, the dev platform clock) and
    the wall clock elsewhere."""
    import asyncio
    from datetime import UTC, datetime

    import pytest

    from steward.kit import timers as kit_timers

    seen: list[datetime] = []
    pinned = datetime(2030, 1, 2, 3, 4, tzinfo=UTC)

    class NoDb:
        def transaction(self) -> object:
            seen.append(kit_timers.now())
            raise RuntimeError("stop here")

    worker = kit_timers.TimerWorker(NoDb(), {}, clock=lambda: pinned)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="stop here"):
        asyncio.run(worker.sweep())
    assert seen == [pinned]
    assert abs((kit_timers.now() - datetime.now(UTC)).total_seconds()) < 5  # outside a sweep
