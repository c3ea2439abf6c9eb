"""``Database.lone`` (``kit.pooled.lone_session``): a transaction that is one statement sent alone,
reads without BEGIN before it, with no SQLAlchemy transaction around it — against real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import object_session
from sqlalchemy.orm.attributes import instance_state

from steward.kit import writes
from steward.kit.db import Database, construct, sqlstate, utcnow
from steward.kit.pooled import is_lone
from steward.kit.straight import all_rows, first_row, take_connection
from steward.kit.testing import Greenlets
from steward.kit.timers import DueTimer

_TIMERS: sa.Table = DueTimer.__table__  # type: ignore[attr-defined]
_COUNT = sa.text("SELECT count(*) FROM steward_timers WHERE tenant = :tenant")
_PID = sa.text("SELECT pg_backend_pid()")
_XID = sa.text("SELECT txid_current()")  # a new one per statement outside a transaction block


class Stop(Exception):
    pass


async def _count(db: Database, tenant: str) -> int:
    async with db.read() as session:
        return int((await session.execute(_COUNT, {"tenant": tenant})).scalar_one())


def _pool(db: Database) -> Any:
    return db.engine.sync_engine.pool


def _values(tenant: str, key: str, same: uuid.UUID | None = None) -> dict[str, Any]:
    return {
        "id": same or uuid.uuid4(),
        "kind": "kit.test",
        "key": f"{tenant}-{key}",
        "tenant": tenant,
        "due_at": utcnow(),
        "payload": {"k": "值"},
        "attempts": 0,
    }


async def test_the_statement_commits_on_its_own_without_a_sqlalchemy_transaction(
    db: Database, tenant: str
) -> None:
    with Greenlets() as started:
        async with db.lone() as session:
            assert is_lone(session)
            (before,) = await all_rows(session, _COUNT, {"tenant": tenant}, begin=False)
            async with writes.batched(session, last=True) as batch:
                batch.insert(_TIMERS, _values(tenant, "a"))
            assert session.sync_session.get_transaction() is None
    assert before[0] == 0
    assert len(started.started) <= 1  # the pool's checkout at most: no session greenlets
    assert await _count(db, tenant) == 1
    assert _pool(db).checkedout() == 0


async def test_its_reads_and_statement_run_outside_a_transaction_block(db: Database) -> None:
    async with db.lone() as session:
        ((first,),) = await all_rows(session, _XID, {}, begin=False)
        ((second,),) = await all_rows(session, _XID, {}, begin=False)
        (alone,) = await first_row(session, _XID, {}, alone=True)
    async with db.transaction() as session:  # the contrast: inside BEGIN ... COMMIT
        inside = [(await session.execute(_XID)).scalar_one() for _ in range(2)]
    assert len({first, second, alone}) == 3 and inside[0] == inside[1]


async def test_attached_objects_stay_detached_with_their_values(db: Database, tenant: str) -> None:
    sa.orm.configure_mappers()
    timer = construct(DueTimer, **_values(tenant, "a"))
    async with db.lone() as session, writes.batched(session, last=True):
        writes.add(session, timer, attach=True)
    assert object_session(timer) is None and instance_state(timer).detached
    assert (timer.key, timer.payload) == (f"{tenant}-a", {"k": "值"})
    assert await _count(db, tenant) == 1


async def test_nothing_is_sent_when_the_block_raises_before_its_statement(db: Database, tenant: str) -> None:
    with pytest.raises(Stop):
        async with db.lone() as session, writes.batched(session, last=True) as batch:
            batch.insert(_TIMERS, _values(tenant, "a"))
            raise Stop
    assert await _count(db, tenant) == 0
    assert _pool(db).checkedout() == 0


async def test_a_failed_statement_is_sqlalchemys_error_and_writes_nothing(db: Database, tenant: str) -> None:
    same = uuid.uuid4()
    with pytest.raises(sa.exc.IntegrityError) as caught:
        async with db.lone() as session, writes.batched(session, last=True) as batch:
            batch.insert(_TIMERS, _values(tenant, "a", same))
            batch.insert(_TIMERS, _values(tenant, "b", same))  # the same id: the whole statement fails
    assert sqlstate(caught.value) == "23505" and not caught.value.connection_invalidated
    assert await _count(db, tenant) == 0
    # the connection went back usable
    async with db.lone() as session, writes.batched(session, last=True) as batch:
        batch.insert(_TIMERS, _values(tenant, "c"))
    assert await _count(db, tenant) == 1


@pytest.mark.parametrize("misuse", ["after", "begin", "execute", "flush"])
async def test_anything_but_reads_then_one_statement_is_refused(
    db: Database, tenant: str, misuse: str
) -> None:
    with pytest.raises(RuntimeError):
        async with db.lone() as session:
            if misuse == "begin":  # a statement that would need BEGIN
                await first_row(session, _COUNT, {"tenant": tenant})
            if misuse == "execute":  # SQLAlchemy's own: its transaction would be on another connection
                await session.execute(_COUNT, {"tenant": tenant})
            if misuse == "flush":
                session.add(construct(DueTimer, **_values(tenant, "added")))
                await first_row(session, _COUNT, {"tenant": tenant}, alone=True)
            async with writes.batched(session, last=True) as batch:
                batch.insert(_TIMERS, _values(tenant, "a"))
            if misuse == "after":  # after the last statement
                await all_rows(session, _COUNT, {"tenant": tenant}, begin=False)
    assert await _count(db, tenant) == (1 if misuse == "after" else 0)  # refused before it was sent
    assert _pool(db).checkedout() == 0


async def test_a_lost_connection_is_invalidated_and_the_next_one_is_fresh(db: Database, tenant: str) -> None:
    with pytest.raises(sa.exc.DBAPIError) as caught:
        async with db.lone() as session:
            ((pid,),) = await all_rows(session, _PID, {}, begin=False)
            async with db.engine.connect() as other:
                await other.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            async with writes.batched(session, last=True) as batch:
                batch.insert(_TIMERS, _values(tenant, "a"))
    assert caught.value.connection_invalidated
    async with db.lone() as session:
        ((other_pid,),) = await all_rows(session, _PID, {}, begin=False)
    assert other_pid != pid
    assert await _count(db, tenant) == 0


async def test_while_statement_hooks_listen_it_is_a_transaction_they_see(db: Database, tenant: str) -> None:
    seen: list[str] = []

    def hook(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", hook)
    try:
        async with db.lone() as session:
            assert not is_lone(session)
            async with writes.batched(session, last=True) as batch:
                batch.insert(_TIMERS, _values(tenant, "a"))
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", hook)
    assert any("steward_timers" in s for s in seen)
    assert await _count(db, tenant) == 1


@pytest.mark.parametrize("turns", [True, False])
async def test_lone_sessions_take_their_connections_in_arrival_order(db_url: str, turns: bool) -> None:
    """A connection given back goes to the one that waited longest, not to a request arriving just
    then. The pool's own queue hands it to whoever asks first: without turns, one that arrives as a
    connection comes back overtakes the waiters. (With turns, one at a time here: the pool's one
    connection serves each in turn, none is opened meanwhile to reorder them.)"""
    small = Database(db_url, pool_size=1)  # two connections at most
    small._lone_turns = asyncio.Semaphore(1) if turns else None  # type: ignore[assignment]
    holders = "a" if turns else "ab"
    order: list[str] = []
    done = {name: asyncio.Event() for name in "abcdef"}
    held = asyncio.Event()

    async def one(name: str) -> None:
        async with small.lone() as session:
            await take_connection(session)
            order.append(name)
            held.set()
            await done[name].wait()

    try:
        tasks = []
        for name in holders:
            tasks.append(asyncio.create_task(one(name)))
            held.clear()
            await held.wait()
        for name in "bcde"[len(holders) - 1 :]:  # in line, in this order
            tasks.append(asyncio.create_task(one(name)))
            await asyncio.sleep(0.02)
        done["a"].set()
        tasks.append(asyncio.create_task(one("f")))  # arrives as a's connection comes back
        for _ in range(400):  # each lets go once it has had its connection
            if all(t.done() for t in tasks):
                break
            for name in order:
                done[name].set()
            await asyncio.sleep(0.005)
        await asyncio.gather(*tasks)
    finally:
        await small.dispose()
    if turns:
        assert order == list("abcdef")
    else:
        assert order[:2] == ["a", "b"] and order[2] == "f"  # the pool alone: overtaken (why turns exist)
