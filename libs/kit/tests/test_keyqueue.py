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

    async def filing(arrival: int) -> None:
        nonlocal inside, overlapped
        async with db.transaction() as session:
            assert await queue.enter(session, key)
            inside += 1
            overlapped |= inside > 1
            number = await _take(session, key)
            await asyncio.sleep(0.01)  # work between the number and the commit
            turns.append((arrival, number))
            inside -= 1

    tasks = []
    for arrival in range(12):
        tasks.append(asyncio.create_task(filing(arrival)))
        await asyncio.sleep(0)  # arrivals in this order
    await asyncio.gather(*tasks)
    assert not overlapped
    assert [a for a, _ in turns] == list(range(12))
    assert [n for _, n in turns] == list(range(1, 13))
    assert len(queue) == 0  # nothing kept for a key nobody waits for


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
    assert cancelled.cancelled()
    assert order == ["first", "last"]
    assert len(queue) == 0
