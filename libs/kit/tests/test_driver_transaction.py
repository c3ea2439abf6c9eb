"""``kit.pooled.driver_transaction``: a background loop's transaction straight through asyncpg on a
pooled connection, no session (the outbox relay's rounds), against real PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from steward.kit.db import Database, sqlstate
from steward.kit.pooled import driver_transaction
from steward.kit.testing import Greenlets
from steward.kit.timers import DueTimer

_INSERT = sa.text(
    "INSERT INTO steward_timers (id, kind, key, tenant, due_at, payload, attempts) "
    "VALUES (:id, 'kit.test', :key, :tenant, now(), :payload, 0) RETURNING key, payload"
).bindparams(
    sa.bindparam("id", type_=sa.Uuid()),
    sa.bindparam("payload", type_=DueTimer.__table__.c.payload.type),  # type: ignore[attr-defined]
)
_COUNT = sa.text("SELECT count(*) FROM steward_timers WHERE tenant = :tenant")
_PID = sa.text("SELECT pg_backend_pid()")


class Stop(Exception):
    pass


async def _count(db: Database, tenant: str) -> int:
    async with db.read() as session:
        return int((await session.execute(_COUNT, {"tenant": tenant})).scalar_one())


def _row(tenant: str, key: str, same: uuid.UUID | None = None) -> dict[str, object]:
    return {"id": same or uuid.uuid4(), "tenant": tenant, "key": f"{tenant}-{key}", "payload": {"k": "值"}}


async def test_the_block_commits_with_sqlalchemys_values_and_no_session(db: Database, tenant: str) -> None:
    with Greenlets() as started:
        async with driver_transaction(db.engine) as tx:
            rows = await tx.rows(_INSERT, _row(tenant, "a"))
            await tx.rows(_INSERT, _row(tenant, "b"))
    assert [tuple(r) for r in rows] == [
        (f"{tenant}-a", {"k": "值"})
    ]  # the JSON bound and read as SQLAlchemy would
    assert len(started.started) <= 1  # the pool's checkout; no session, no greenlet per statement
    assert await _count(db, tenant) == 2


async def test_an_exception_in_the_block_rolls_everything_back(db: Database, tenant: str) -> None:
    with pytest.raises(Stop):
        async with driver_transaction(db.engine) as tx:
            await tx.rows(_INSERT, _row(tenant, "a"))
            raise Stop
    assert await _count(db, tenant) == 0
    async with driver_transaction(db.engine) as tx:  # the connection went back clean
        await tx.rows(_INSERT, _row(tenant, "b"))
    assert await _count(db, tenant) == 1


async def test_a_failure_is_sqlalchemys_error_and_nothing_of_the_block_stays(
    db: Database, tenant: str
) -> None:
    same = uuid.uuid4()
    with pytest.raises(sa.exc.IntegrityError) as caught:
        async with driver_transaction(db.engine) as tx:
            await tx.rows(_INSERT, _row(tenant, "a", same))
            await tx.rows(_INSERT, _row(tenant, "b", same))
    assert sqlstate(caught.value) == "23505"
    assert not caught.value.connection_invalidated
    assert await _count(db, tenant) == 0


async def test_a_lost_connection_is_invalidated_and_the_next_round_works(db: Database, tenant: str) -> None:
    with pytest.raises(sa.exc.DBAPIError) as caught:
        async with driver_transaction(db.engine) as tx:
            ((pid,),) = await tx.rows(_PID, {})
            async with db.engine.connect() as other:
                await other.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            await tx.rows(_COUNT, {"tenant": tenant})
    assert caught.value.connection_invalidated
    async with driver_transaction(db.engine) as tx:  # a fresh connection, not the dead one
        ((other_pid,),) = await tx.rows(_PID, {})
        assert other_pid != pid
        assert [tuple(r) for r in await tx.rows(_COUNT, {"tenant": tenant})] == [(0,)]


async def test_transactions_at_once_return_their_connections_to_the_pool_cleanly(
    db: Database, db_url: str, tenant: str, caplog: pytest.LogCaptureFixture
) -> None:
    small = Database(db_url, pool_size=1)  # two connections at most
    try:

        async def one(key: str) -> None:
            async with driver_transaction(small.engine) as tx:
                await tx.rows(_INSERT, _row(tenant, key))
                await asyncio.sleep(0.01)  # both hold a connection at once

        with caplog.at_level(logging.WARNING, logger="sqlalchemy.pool"):
            await asyncio.gather(one("a"), one("b"))
        assert [r.getMessage() for r in caplog.records if r.name.startswith("sqlalchemy.pool")] == []
        pool: Any = small.engine.sync_engine.pool
        assert pool.checkedout() == 0 and pool.checkedin() == 2  # both kept for the next
    finally:
        await small.dispose()
    assert await _count(db, tenant) == 2
