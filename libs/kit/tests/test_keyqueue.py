"""``kit.keyqueue.KeyQueue``: transactions that contend for one counter row take their turns in
arrival order in the process, each until it has committed or rolled back (real PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa

from steward.kit.db import Database
from steward.kit.keyqueue import KeyQueue

_TABLE = "keyqueue_counter"


@pytest.fixture
async def counter(db: Database) -> str:
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.text(f"CREATE TABLE IF NOT EXISTS {_TABLE} (k text PRIMARY KEY, last int NOT NULL)")
        )
    return _TABLE


async def _take(session: Any, key: str) -> int:
    row = await session.execute(
        sa.text(
            f"INSERT INTO {_TABLE} (k, last) VALUES (:k, 1) "
            f"ON CONFLICT (k) DO UPDATE SET last = {_TABLE}.last + 1 RETURNING last"
        ),
        {"k": key},
    )
    return int(row.scalar_one())


async def test_turns_follow_arrival_and_last_until_the_transaction_ends(
    db: Database, counter: str, tenant: str
) -> None:
    queue = KeyQueue()
    key = f"{tenant}-a"
    turns: list[tuple[int, int]] = []  # (arrival, number taken)
    inside = 0
    overlapped = False

    async def filing(arrival: int, arrived: asyncio.Event) -> None:
        nonlocal inside, overlapped
        async with db.transaction() as session:
            await session.connection()  # what came before in the transaction
            arrived.set()
            assert await queue.enter(session, key)
            inside += 1
            overlapped |= inside > 1
            number = await _take(session, key)
            await asyncio.sleep(0.01)  # work between the number and the commit
            turns.append((arrival, number))
            inside -= 1

    tasks = []
    for arrival in range(8):  # the fixture's pool holds 10: each arrives with its connection
        arrived = asyncio.Event()
        tasks.append(asyncio.create_task(filing(arrival, arrived)))
        await arrived.wait()  # arrivals in this order
    await asyncio.gather(*tasks)
    assert not overlapped
    assert [a for a, _ in turns] == list(range(8))
    assert [n for _, n in turns] == list(range(1, 9))
    assert len(queue) == 0  # nothing kept for a key nobody waits for


async def test_whose_turn_it_is_never_waits_for_a_connection_those_behind_it_hold(
    db_url: str, counter: str, tenant: str
) -> None:
    """A pool of two connections. A holds the key and one; B holds the other (a statement came
    first in its transaction) and comes to the queue later; C waits for a connection, then comes to
    the queue; H, a fresh transaction, arrives meanwhile. Before, H got in line first and waited
    for its connection there: when A ended, H had the key and C got A's connection, and those
    behind H waited for it while it waited for one of their connections, until ``patience`` ran
    out (a service with 32 clients filing into one tenant: 8 filings/s, p99 4 s). Now H takes its
    connection before it gets in line."""
    small = Database(db_url, pool_size=1)  # two connections at most
    queue = KeyQueue(patience=1.0)
    key = f"{tenant}-pool"
    entered: dict[str, bool] = {}
    a_holds, a_go, b_has_connection, b_go = (asyncio.Event() for _ in range(4))

    async def transaction(name: str, *, statement_first: bool, before: Any = None, after: Any = None) -> None:
        """``before`` / ``after`` the queue: (an event it sets, an event it then waits for)."""
        async with small.transaction() as session:
            if statement_first:
                await session.execute(sa.text("SELECT 1"))
            if before is not None:
                before[0].set()
                await before[1].wait()
            entered[name] = await queue.enter(session, key)
            await _take(session, key)
            if after is not None:
                after[0].set()
                await after[1].wait()

    try:
        async with asyncio.timeout(5):
            a = asyncio.create_task(transaction("a", statement_first=False, after=(a_holds, a_go)))
            await a_holds.wait()
            b = asyncio.create_task(transaction("b", statement_first=True, before=(b_has_connection, b_go)))
            await b_has_connection.wait()
            c = asyncio.create_task(transaction("c", statement_first=True))
            await asyncio.sleep(0.1)  # C waits for a connection
            h = asyncio.create_task(transaction("h", statement_first=False))
            await asyncio.sleep(0.1)  # H arrives
            b_go.set()
            await asyncio.sleep(0.1)  # B comes to the queue
            a_go.set()
            await asyncio.gather(a, b, c, h)
    finally:
        await small.dispose()
    assert entered == {"a": True, "b": True, "c": True, "h": True}  # nobody waited out its patience


async def test_a_rolled_back_transaction_lets_the_next_one_go(
    db: Database, counter: str, tenant: str
) -> None:
    queue = KeyQueue()
    key = f"{tenant}-b"
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            assert await queue.enter(session, key)
            await _take(session, key)
            raise RuntimeError("refused")
    async with asyncio.timeout(5), db.transaction() as session:
        assert await queue.enter(session, key)
        assert await _take(session, key) == 1  # the first number again: the rollback took it back
    assert len(queue) == 0


async def test_the_same_key_again_in_one_transaction_does_not_wait_for_itself(
    db: Database, counter: str, tenant: str
) -> None:
    queue = KeyQueue()
    async with asyncio.timeout(5), db.transaction() as session:
        assert await queue.enter(session, f"{tenant}-c")
        assert await queue.enter(session, f"{tenant}-c")
        # a second key is left to PostgreSQL (a wait here could close a cycle it cannot see)
        assert not await queue.enter(session, f"{tenant}-d")
        assert len(queue) == 1
    assert len(queue) == 0


async def test_a_session_not_of_a_kit_transaction_is_not_queued(
    db: Database, counter: str, tenant: str
) -> None:
    queue = KeyQueue()
    async with db.sessionmaker() as session:
        assert not await queue.enter(session, f"{tenant}-e")
    assert len(queue) == 0


async def test_a_wait_longer_than_patience_goes_on_to_the_row(
    db: Database, counter: str, tenant: str
) -> None:
    queue = KeyQueue(patience=0.2)
    key = f"{tenant}-f"
    release = asyncio.Event()
    entered = asyncio.Event()

    async def holder() -> None:
        async with db.transaction() as session:
            assert await queue.enter(session, key)
            entered.set()
            await release.wait()

    held = asyncio.create_task(holder())
    await entered.wait()
    async with db.transaction() as session:
        t0 = asyncio.get_running_loop().time()
        assert not await queue.enter(session, key)  # gave up its place after patience
        assert 0.15 < asyncio.get_running_loop().time() - t0 < 2.0
    release.set()
    await held
    assert len(queue) == 0


async def test_a_cancelled_waiter_leaves_the_line_in_order(db: Database, counter: str, tenant: str) -> None:
    queue = KeyQueue()
    key = f"{tenant}-g"
    release = asyncio.Event()
    order: list[str] = []

    async def one(name: str, hold: bool = False) -> None:
        async with db.transaction() as session:
            await queue.enter(session, key)
            order.append(name)
            if hold:
                await release.wait()

    first = asyncio.create_task(one("first", hold=True))
    await asyncio.sleep(0.05)
    cancelled = asyncio.create_task(one("cancelled"))
    await asyncio.sleep(0.05)
    last = asyncio.create_task(one("last"))
    await asyncio.sleep(0.05)
    cancelled.cancel()
    release.set()
    async with asyncio.timeout(5):
        await asyncio.gather(first, last)
        # the cancelled one may still be rolling its transaction back when the others are done
        await asyncio.wait([cancelled])
    assert cancelled.cancelled()
    assert order == ["first", "last"]
    assert len(queue) == 0


async def test_a_transaction_waits_its_turn_without_a_task_of_its_own(
    db: Database, counter: str, tenant: str
) -> None:
    """A waiter is a future in the line, not a task (and a ``wait_for`` task) per waiting filing:
    under load most filings of a tenant wait, and each task was CPU taken from the requests."""
    queue = KeyQueue()
    key = f"{tenant}-h"
    release = asyncio.Event()
    held = asyncio.Event()
    waiting = asyncio.Event()

    async def holder() -> None:
        async with db.transaction() as session:
            assert await queue.enter(session, key)
            held.set()
            await release.wait()

    async def waiter() -> None:
        async with db.transaction() as session:
            waiting.set()
            assert await queue.enter(session, key)

    async with asyncio.timeout(5):
        first = asyncio.create_task(holder())
        await held.wait()
        before = len(asyncio.all_tasks())
        second = asyncio.create_task(waiter())
        await waiting.wait()
        await asyncio.sleep(0.1)  # in line, its BEGIN sent
        assert not second.done()
        assert len(asyncio.all_tasks()) == before + 1  # the waiter's own task only
        release.set()
        await asyncio.gather(first, second)
    assert len(queue) == 0


async def test_a_turn_lets_width_holders_at_the_row_and_the_rest_in_arrival_order(
    db: Database, counter: str, tenant: str
) -> None:
    """``turn``: for statements that lock the row and commit on their own (sent alone): at most
    ``width`` of a key's at once, the others in line, each turn ending with its block."""
    queue = KeyQueue(width=2)
    key = f"{tenant}-w"
    release = asyncio.Event()
    inside: list[str] = []
    order: list[str] = []

    async def one(name: str) -> None:
        async with db.transaction() as session, queue.turn(session, key) as given:
            assert given
            inside.append(name)
            order.append(name)
            await release.wait()
            inside.remove(name)

    async with asyncio.timeout(5):
        tasks = []
        for name in ("a", "b", "c", "d"):
            tasks.append(asyncio.create_task(one(name)))
            await asyncio.sleep(0.02)
        assert sorted(inside) == ["a", "b"]  # two at once; c and d wait in line
        release.set()
        await asyncio.gather(*tasks)
    assert order == ["a", "b", "c", "d"]
    assert len(queue) == 0
