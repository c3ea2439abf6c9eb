"""Read sessions run outside a transaction (one round trip a statement) and refuse every write
before it is sent (``steward.kit.readonly``), against real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa

from steward.kit import audit, writes
from steward.kit.audit import AuditEntry
from steward.kit.db import Database
from steward.kit.readonly import WriteInReadSession, writes_sql
from steward.kit.straight import all_rows, first_row, set_local
from steward.kit.testing import Begins, RoundTrips


def _entry(tenant: str) -> AuditEntry:
    return AuditEntry(actor="u1", tenant=tenant, action="create", entity="doc", entity_id="1", changes={})


async def _count(db: Database, tenant: str) -> int:
    async with db.transaction() as s:
        return int(
            (await s.execute(sa.select(sa.func.count()).where(AuditEntry.tenant == tenant))).scalar_one()
        )


async def _now_twice(db: Database) -> tuple[object, object]:
    async with db.read() as s:
        first = (await s.execute(sa.text("SELECT now()"))).scalar_one()
        await asyncio.sleep(0.02)
        return first, (await s.execute(sa.text("SELECT now()"))).scalar_one()


async def test_a_read_session_sends_no_begin_and_each_statement_runs_on_its_own(db: Database) -> None:
    with Begins() as begins, RoundTrips(db) as trips:
        async with db.read() as s:
            assert (await s.execute(sa.text("SELECT 1"))).scalar_one() == 1
            assert list(await all_rows(s, sa.text("SELECT 2"), {})) == [(2,)]
    assert begins.sent == [] and trips.count == 2, trips.sent
    first, second = await _now_twice(db)
    assert second > first  # now() is each statement's own transaction's start


async def test_a_read_session_takes_its_connection_at_its_first_statement(db: Database) -> None:
    pool = db.engine.sync_engine.pool
    before = pool.checkedout()  # type: ignore[attr-defined]
    async with db.read() as s:
        assert pool.checkedout() == before  # type: ignore[attr-defined]  # none held while it waits
        await s.execute(sa.text("SELECT 1"))
        assert pool.checkedout() == before + 1  # type: ignore[attr-defined]
    assert pool.checkedout() == before  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "how", ["flush", "orm_insert", "core_update", "text_insert", "cte_delete", "batched", "first_row"]
)
async def test_a_write_through_a_read_session_raises_before_anything_is_sent(
    db: Database, tenant: str, how: str
) -> None:
    table = AuditEntry.__table__
    with pytest.raises(WriteInReadSession):
        async with db.read() as s:
            if how == "flush":
                s.add(_entry(tenant))
                await s.flush()
            elif how == "orm_insert":
                await s.execute(sa.insert(AuditEntry).values(_entry(tenant).model_dump()))
            elif how == "core_update":
                await s.execute(sa.update(table).where(table.c.tenant == tenant).values(actor="x"))
            elif how == "text_insert":
                await s.execute(
                    sa.text(
                        "  insert into steward_audit (id, at, actor, tenant, action, entity, entity_id, changes) "
                        "VALUES (:id, now(), 'u', :t, 'a', 'e', '1', '{}')"
                    ),
                    {"id": uuid.uuid4(), "t": tenant},
                )
            elif how == "cte_delete":
                await s.execute(
                    sa.text(
                        "WITH gone AS (DELETE FROM steward_audit WHERE tenant = :t RETURNING 1) "
                        "SELECT count(*) FROM gone"
                    ),
                    {"t": tenant},
                )
            elif how == "batched":
                async with writes.batched(s):
                    await audit.record(s, actor="u1", tenant=tenant, action="a", entity="e", entity_id="1")
            else:
                await first_row(
                    s, sa.text("UPDATE steward_audit SET actor = 'x' WHERE tenant = :t"), {"t": tenant}
                )
    assert await _count(db, tenant) == 0


async def test_a_loaded_object_changed_for_display_is_never_written(db: Database, tenant: str) -> None:
    async with db.transaction() as s:
        s.add(_entry(tenant))
    async with db.read() as s:
        entry = (await s.execute(sa.select(AuditEntry).where(AuditEntry.tenant == tenant))).scalar_one()
        entry.actor = "shown-differently"
        again = (await s.execute(sa.select(AuditEntry.actor).where(AuditEntry.tenant == tenant))).scalar_one()
        assert again == "u1"  # no autoflush: the change was not sent
    async with db.read() as s:
        assert (
            await s.execute(sa.select(AuditEntry.actor).where(AuditEntry.tenant == tenant))
        ).scalar_one() == "u1"


async def test_set_local_in_a_read_session_lasts_until_its_end_and_no_further(db_url: str) -> None:
    one = Database(db_url, pool_size=1)  # the same pooled connection every time
    try:
        async with one.read() as s:
            default = (await s.execute(sa.text("SHOW work_mem"))).scalar_one()
            with pytest.raises(WriteInReadSession):  # outside a transaction it would last one statement
                await s.execute(sa.text("SET LOCAL work_mem = '77MB'"))
        async with one.read() as s:
            await set_local(s, "work_mem", "77MB")  # begins a transaction
            first = (await s.execute(sa.text("SELECT now()"))).scalar_one()
            await asyncio.sleep(0.02)
            assert (await s.execute(sa.text("SHOW work_mem"))).scalar_one() == "77MB"
            assert (await s.execute(sa.text("SELECT now()"))).scalar_one() == first  # one transaction
            await s.execute(sa.text("SET LOCAL statement_timeout = '5s'"))  # allowed in it
            with pytest.raises(WriteInReadSession):
                await s.execute(sa.text("SET work_mem = '78MB'"))  # would outlive the session
            with pytest.raises(WriteInReadSession):
                await s.execute(sa.text("UPDATE steward_audit SET actor = 'x' WHERE false"))
        async with one.read() as s:  # rolled back: the setting went no further
            assert (await s.execute(sa.text("SHOW work_mem"))).scalar_one() == default
            assert (await s.execute(sa.text("SHOW statement_timeout"))).scalar_one() == "0"
    finally:
        await one.dispose()


async def test_the_pooled_connection_goes_back_inside_transactions_again(
    db: Database, db_url: str, tenant: str
) -> None:
    """One pooled connection: after a read session (AUTOCOMMIT), a write transaction that fails is
    rolled back whole — the pool restored the connection's isolation level."""
    one = Database(db_url, pool_size=1)
    try:
        async with one.read() as s:
            await s.execute(sa.text("SELECT 1"))
        with pytest.raises(RuntimeError):
            async with one.transaction() as s:
                s.add(_entry(tenant))
                await s.flush()
                raise RuntimeError("after the write")
        assert await _count(one, tenant) == 0
    finally:
        await one.dispose()


@pytest.mark.parametrize(
    ("sql", "writes"),
    [
        ("SELECT * FROM t WHERE note = :n", False),
        ("  (SELECT 1) UNION (SELECT 2)", False),
        ("WITH x AS (SELECT 1) SELECT * FROM x", False),
        ("SELECT updated_at, deleted FROM t", False),
        ("insert into t VALUES (1)", True),
        ("\n UPDATE t SET a = 1", True),
        ("WITH w0 AS (INSERT INTO t (a) VALUES (1)) SELECT 1", True),
        ("WITH w AS (UPDATE t SET a = 1 RETURNING a) SELECT a FROM w", True),
        ("SELECT pg_notify('c', 'x')", True),
        ("SET LOCAL work_mem = '1MB'", True),
        ("TRUNCATE t", True),
    ],
)
def test_statements_that_write_are_told_apart(sql: str, writes: bool) -> None:
    assert writes_sql(sql) is writes
