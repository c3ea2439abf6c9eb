"""Reads of table models by key straight through the driver (``steward.kit.loads``): what comes back
is what a read session gives, against real PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from steward.kit.audit import AuditEntry
from steward.kit.db import Database, asyncpg_dsn, utcnow
from steward.kit.loads import Joined, Load, by_id_or_key, read_rows
from steward.kit.testing import RoundTrips
from steward.kit.timers import DueTimer
from steward.kit.transient import is_transient

BY_ID = Load(AuditEntry, AuditEntry.id == sa.bindparam("id"))
BY_TENANT = Load(AuditEntry, AuditEntry.tenant == sa.bindparam("tenant"), AuditEntry.action == "create")


async def _entries(db: Database, tenant: str, n: int) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(n)]
    async with db.transaction() as s:
        for i, ident in enumerate(ids):
            s.add(
                AuditEntry(
                    id=ident,
                    actor=f"u{i}",
                    tenant=tenant,
                    action="create" if i % 2 == 0 else "update",
                    entity="doc",
                    entity_id=str(i),
                    changes={"名称": ["旧", "新"], "n": i, "nested": {"ok": True}},
                )
            )
    return ids


def _values(obj: Any) -> dict[str, Any]:
    return {k: v for k, v in obj.__dict__.items() if not k.startswith("_sa_")}


async def _through_a_session(db: Database, stmt: Any) -> list[AuditEntry]:
    async with db.read() as s:
        return list((await s.exec(stmt)).all())


async def test_an_instance_is_what_a_read_session_gives(db: Database, tenant: str) -> None:
    ids = await _entries(db, tenant, 2)
    loaded = await BY_ID.first(db, id=ids[0])
    [expected] = await _through_a_session(db, select(AuditEntry).where(AuditEntry.id == ids[0]))
    assert loaded is not None and type(loaded) is AuditEntry
    assert _values(loaded) == _values(expected)
    assert loaded.changes == {"名称": ["旧", "新"], "n": 0, "nested": {"ok": True}}  # JSONB decoded
    assert loaded.at.tzinfo is not None and isinstance(loaded.id, uuid.UUID)
    assert loaded.__pydantic_fields_set__ == expected.__pydantic_fields_set__
    state, other = sa.inspect(loaded), sa.inspect(expected)
    assert state.detached and other.detached and state.key == other.key
    assert not any(attr.history.has_changes() for attr in state.attrs)
    assert await BY_ID.first(db, id=uuid.uuid4()) is None


async def test_all_and_fixed_values_in_the_statement(db: Database, tenant: str) -> None:
    ids = await _entries(db, tenant, 5)
    found = await BY_TENANT.all(db, tenant=tenant)
    assert sorted(e.id for e in found) == sorted(ids[i] for i in (0, 2, 4))  # only action == "create"
    assert await BY_TENANT.all(db, tenant="nobody") == []


async def test_a_loaded_instance_changed_in_a_later_transaction_is_updated_not_inserted(
    db: Database, tenant: str
) -> None:
    [ident] = await _entries(db, tenant, 1)
    loaded = await BY_ID.first(db, id=ident)
    assert loaded is not None
    async with db.transaction() as s:
        s.add(loaded)
        loaded.actor = "changed"
    again = await BY_ID.first(db, id=ident)
    assert again is not None and again.actor == "changed"
    assert len(await BY_TENANT.all(db, tenant=tenant)) == 1


async def test_no_session_no_transaction_and_the_connection_goes_back(db: Database, tenant: str) -> None:
    [ident] = await _entries(db, tenant, 1)
    pool = db.engine.sync_engine.pool
    before = pool.checkedout()  # type: ignore[attr-defined]
    await BY_ID.first(db, id=ident)
    assert pool.checkedout() == before  # type: ignore[attr-defined]
    async with db.transaction() as s:  # the pooled connection is clean: no transaction left open
        status = await s.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in%'"))
        assert status.scalar_one() == 0


async def test_while_statements_are_counted_it_goes_through_a_session_and_is_seen(
    db: Database, tenant: str
) -> None:
    ids = await _entries(db, tenant, 3)
    straight = await BY_ID.first(db, id=ids[1])
    with RoundTrips(db) as trips:
        seen = await BY_ID.first(db, id=ids[1])
        many = await BY_TENANT.all(db, tenant=tenant)
    assert trips.count == 2, trips.sent
    assert seen is not None and straight is not None and _values(seen) == _values(straight)
    assert sa.inspect(seen).detached and len(many) == 2


async def test_a_lost_connection_raises_a_transient_error_and_the_next_read_reconnects(
    db: Database, db_url: str, tenant: str
) -> None:
    [ident] = await _entries(db, tenant, 1)
    await db.dispose()
    db = Database(db_url, pool_size=1)  # one connection, used in turn
    try:
        assert await BY_ID.first(db, id=ident) is not None  # a pooled connection, idle now
        killer = await asyncpg.connect(asyncpg_dsn(db_url))
        try:
            await killer.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await killer.close()
        with pytest.raises(DBAPIError) as raised:
            await BY_ID.first(db, id=ident)
        assert raised.value.connection_invalidated and is_transient(raised.value)
        assert await BY_ID.first(db, id=ident) is not None  # a new connection
    finally:
        await db.dispose()


def test_a_statement_with_an_expanding_parameter_is_refused() -> None:
    load = Load(AuditEntry, AuditEntry.id.in_(sa.bindparam("ids", expanding=True)))  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="constant"):
        load._compiled(sa.create_engine("postgresql+asyncpg://").dialect)


async def test_by_id_or_key_reads_a_uuid_as_an_id_and_anything_else_as_the_key(
    db: Database, tenant: str
) -> None:
    ids = await _entries(db, tenant, 2)
    by_actor = Load(AuditEntry, AuditEntry.actor == sa.bindparam("key"), AuditEntry.tenant == tenant)
    found = await by_id_or_key(db, str(ids[1]), by_id=BY_ID, by_key=by_actor)
    assert found is not None and found.id == ids[1]
    found = await by_id_or_key(db, "u0", by_id=BY_ID, by_key=by_actor)
    assert found is not None and found.id == ids[0]
    assert await by_id_or_key(db, str(uuid.uuid4()), by_id=BY_ID, by_key=by_actor) is None
    assert await by_id_or_key(db, "nobody", by_id=BY_ID, by_key=by_actor) is None


# an entry with its timer, if it has one (keyed by the entry's entity id): an outer join
WITH_TIMER = Joined(
    select(AuditEntry, DueTimer)
    .outerjoin(DueTimer, sa.and_(DueTimer.key == AuditEntry.entity_id, DueTimer.tenant == AuditEntry.tenant))
    .where(AuditEntry.tenant == sa.bindparam("tenant"))
    .order_by(AuditEntry.entity_id)
)


async def test_joined_rows_are_what_a_read_session_gives_with_none_for_an_outer_joins_miss(
    db: Database, tenant: str
) -> None:
    await _entries(db, tenant, 3)
    async with db.transaction() as s:
        s.add(DueTimer(kind="kit.test", key="1", tenant=tenant, due_at=utcnow(), payload={"键": [1, 2]}))
    rows = await WITH_TIMER.all(db, tenant=tenant)
    async with db.read() as s:
        expected = [tuple(r) for r in (await s.execute(WITH_TIMER.statement, {"tenant": tenant})).all()]
    assert [(e.entity_id, t is not None) for e, t in rows] == [("0", False), ("1", True), ("2", False)]
    for (entry, timer), (entry_expected, timer_expected) in zip(rows, expected, strict=True):
        assert type(entry) is AuditEntry and _values(entry) == _values(entry_expected)
        assert sa.inspect(entry).detached and sa.inspect(entry).key == sa.inspect(entry_expected).key
        if timer_expected is None:
            assert timer is None
        else:
            assert type(timer) is DueTimer and _values(timer) == _values(timer_expected)
            assert timer.payload == {"键": [1, 2]} and timer.due_at.tzinfo is not None
    assert await WITH_TIMER.all(db, tenant="nobody") == []
    with RoundTrips(db) as trips:  # counted: through a session, the same answer
        seen = await WITH_TIMER.all(db, tenant=tenant)
    assert trips.count == 1 and [(_values(e), t and _values(t)) for e, t in seen] == [
        (_values(e), t and _values(t)) for e, t in rows
    ]


def test_a_joined_read_selects_whole_models_only() -> None:
    with pytest.raises(ValueError, match="whole table models"):
        Joined(select(AuditEntry.id, DueTimer))  # type: ignore[call-overload]


async def test_reads_beyond_the_pools_connections_wait_and_give_them_back_cleanly(
    db: Database, db_url: str, tenant: str, caplog: pytest.LogCaptureFixture
) -> None:
    """More reads at once than the pool has connections: the last waits for one to come back; no
    error, no connection left checked out, and the two opened are kept for the next reads."""
    [ident] = await _entries(db, tenant, 1)
    small = Database(db_url, pool_size=1)  # two connections at most
    try:
        pool: Any = small.engine.sync_engine.pool
        with caplog.at_level(logging.WARNING, logger="sqlalchemy.pool"):
            for _ in range(3):
                found = await asyncio.gather(*(BY_ID.first(small, id=ident) for _ in range(3)))
                assert all(f is not None and f.id == ident for f in found)
        assert [r.getMessage() for r in caplog.records if r.name.startswith("sqlalchemy.pool")] == []
        assert pool.checkedout() == 0 and pool.checkedin() == 2
    finally:
        await small.dispose()


async def test_read_rows_reads_straight_and_through_a_session_while_counted(
    db: Database, tenant: str
) -> None:
    ids = await _entries(db, tenant, 3)
    by_tenant = sa.text(
        "SELECT id, actor FROM steward_audit WHERE tenant = :tenant ORDER BY actor"
    ).bindparams(sa.bindparam("tenant", type_=sa.String()))
    pool: Any = db.engine.sync_engine.pool
    straight = [tuple(r) for r in await read_rows(db, by_tenant, {"tenant": tenant})]
    assert straight == [(ids[i], f"u{i}") for i in range(3)] and pool.checkedout() == 0
    with RoundTrips(db) as trips:
        seen = [tuple(r) for r in await read_rows(db, by_tenant, {"tenant": tenant})]
    assert trips.count == 1 and seen == straight
    assert await read_rows(db, by_tenant, {"tenant": "nobody"}) == []
