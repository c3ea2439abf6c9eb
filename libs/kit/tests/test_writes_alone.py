"""A value taken by the batch's own statement (``writes.Taken``: a counter's next number) and a
transaction whose last statement goes alone (``batched(session, last=True)``): one round trip, all
or nothing, against real PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa

from steward.kit import audit, writes
from steward.kit.audit import AuditEntry
from steward.kit.db import Database, utcnow
from steward.kit.ids import new_id
from steward.kit.straight import all_rows, first_row
from steward.kit.testing import Begins

_COUNTERS = "kit_test_counters"
_TAKE = sa.text(
    f"INSERT INTO {_COUNTERS} (k, last) VALUES (:c_key, 1) "
    f"ON CONFLICT (k) DO UPDATE SET last = {_COUNTERS}.last + 1 "
    "RETURNING :c_prefix || lpad(last::text, greatest(3, length(last::text)), '0') AS value"
).bindparams(sa.bindparam("c_key", type_=sa.String()), sa.bindparam("c_prefix", type_=sa.String()))
_READ = sa.text(f"SELECT last FROM {_COUNTERS} WHERE k = :k")


@pytest.fixture
async def counters(db: Database) -> str:
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.text(f"CREATE TABLE IF NOT EXISTS {_COUNTERS} (k text PRIMARY KEY, last int NOT NULL)")
        )
    return _COUNTERS


async def _last(db: Database, key: str) -> int | None:
    async with db.read() as s:
        return (await s.execute(_READ, {"k": key})).scalar()


async def _entries(db: Database, tenant: str) -> list[AuditEntry]:
    async with db.read() as s:
        return list((await s.execute(sa.select(AuditEntry).where(AuditEntry.tenant == tenant))).scalars())


async def _numbered(
    session: Any, tenant: str, key: str, *, last: bool = True
) -> tuple[writes.Taken, AuditEntry]:
    """A numbered entity (its id column holds the token) and an audit entry whose JSON holds it."""
    taken = writes.Taken(_TAKE, {"c_key": key, "c_prefix": f"{key}-"})
    entity = AuditEntry(
        actor="u1",
        tenant=tenant,
        action="create",
        entity=f"doc {taken.token}",  # inside a text
        entity_id=taken.token,
        changes={"quote": f'"no. {taken.token}"'},  # inside a document's string, beside characters to escape
    )
    async with writes.batched(session, last=last) as batch:
        batch.take(taken)
        writes.add(session, entity, attach=True)
        await audit.record(
            session,
            actor="u1",
            tenant=tenant,
            action="numbered",
            entity="doc",
            entity_id="log",
            changes={"number": taken.token, "list": [taken.token, "other"]},
        )
    return taken, entity


async def test_a_last_batch_with_nothing_before_it_is_one_statement_of_its_own(
    db: Database, counters: str, tenant: str
) -> None:
    key = f"{tenant}-a"
    with Begins() as begun:
        async with db.transaction() as session:
            taken, entity = await _numbered(session, tenant, key)
            # committed already: another connection (in another task) sees it before the block ends
            assert await asyncio.create_task(_last(db, key)) == 1
            assert len(await asyncio.create_task(_entries(db, tenant))) == 2
        async with db.transaction() as session:
            again, _ = await _numbered(session, tenant, key)
    assert begun.sent == []  # no BEGIN (so no COMMIT either)
    assert (taken.value, again.value) == (f"{key}-001", f"{key}-002")
    assert entity.entity_id == taken.value  # the attached instance holds the value, not the token
    assert (entity.entity, entity.changes) == (f"doc {taken.value}", {"quote": f'"no. {taken.value}"'})
    logs = {e.entity_id: e for e in await _entries(db, tenant)}
    assert set(logs) == {f"{key}-001", f"{key}-002", "log"}
    assert all(
        e.changes["number"] in (f"{key}-001", f"{key}-002")
        for e in await _entries(db, tenant)
        if e.entity_id == "log"
    )
    assert all(taken.token not in str(e.changes) for e in logs.values())
    stored = logs[taken.value]
    assert (stored.entity, stored.changes) == (f"doc {taken.value}", {"quote": f'"no. {taken.value}"'})


async def test_documents_without_the_token_are_written_as_given_and_left_as_given(
    db: Database, counters: str, tenant: str
) -> None:
    """Every document of a batch with a taken value is serialised once, to look for the token, and
    sent as that text: stored as it was given (nested, non-ASCII, JSON null), the caller's values
    untouched (still documents, not text), an attached entity's document too."""
    key = f"{tenant}-d"
    document = {"plain": [1, "二号", {"x": None, "y": 2.5}], "empty": {}}
    entity = AuditEntry(
        actor="u1",
        tenant=tenant,
        action="create",
        entity="doc",
        entity_id=f"{key}-e",
        changes={"nested": document},
    )
    values = {
        "id": new_id(),
        "at": utcnow(),
        "actor": "u1",
        "tenant": tenant,
        "action": "plain",
        "entity": "doc",
        "entity_id": f"{key}-v",
        "changes": document,
    }
    taken = writes.Taken(_TAKE, {"c_key": key, "c_prefix": f"{key}-"})
    async with db.transaction() as session, writes.batched(session, last=True) as batch:
        batch.take(taken)
        writes.add(session, entity, attach=True)
        batch.insert(AuditEntry.__table__, values)
    assert values["changes"] is document and entity.changes == {"nested": document}
    stored = {e.entity_id: e.changes for e in await _entries(db, tenant)}
    assert stored == {f"{key}-e": {"nested": document}, f"{key}-v": document}


async def test_the_value_keeps_every_digit_past_its_width(db: Database, counters: str, tenant: str) -> None:
    key = f"{tenant}-w"
    async with db.engine.begin() as conn:
        await conn.execute(sa.text(f"INSERT INTO {_COUNTERS} (k, last) VALUES (:k, 999)"), {"k": key})
    async with db.transaction() as session:
        taken, _ = await _numbered(session, tenant, key)
    assert taken.value == f"{key}-1000"


async def test_a_failed_lone_statement_writes_nothing_and_takes_no_number(
    db: Database, counters: str, tenant: str
) -> None:
    key = f"{tenant}-f"
    async with db.transaction() as session:
        first, entity = await _numbered(session, tenant, key)
    with pytest.raises(sa.exc.IntegrityError):
        async with db.transaction() as session:
            taken = writes.Taken(_TAKE, {"c_key": key, "c_prefix": f"{key}-"})
            async with writes.batched(session, last=True) as batch:
                batch.take(taken)
                await audit.record(
                    session, actor="u1", tenant=tenant, action="x", entity="doc", entity_id=taken.token
                )
                batch.insert(AuditEntry.__table__, {**_row(entity), "entity_id": "dup"})  # its id is taken
    assert await _last(db, key) == 1
    assert {e.entity_id for e in await _entries(db, tenant)} == {first.value, "log"}


def _row(entity: AuditEntry) -> dict[str, Any]:
    return {c.name: getattr(entity, c.key) for c in AuditEntry.__table__.columns}


async def test_after_other_statements_the_last_batch_stays_in_the_transaction(
    db: Database, counters: str, tenant: str
) -> None:
    key = f"{tenant}-t"
    with Begins() as begun, pytest.raises(RuntimeError, match="refused"):
        async with db.transaction() as session:
            await session.execute(sa.text("SELECT 1"))
            taken, _ = await _numbered(session, tenant, key)
            assert taken.value == f"{key}-001"
            raise RuntimeError("refused")
    assert begun.sent == ["BEGIN"]
    assert await _last(db, key) is None and await _entries(db, tenant) == []  # rolled back


async def test_a_read_sent_without_begin_keeps_the_last_batch_alone(
    db: Database, counters: str, tenant: str
) -> None:
    key = f"{tenant}-r"
    with Begins() as begun:
        async with db.transaction() as session:
            assert await all_rows(session, _READ, {"k": key}, begin=False) == []
            taken, _ = await _numbered(session, tenant, key)
    assert begun.sent == [] and taken.value == f"{key}-001"


async def test_nothing_may_follow_a_statement_sent_alone(db: Database, counters: str, tenant: str) -> None:
    key = f"{tenant}-s"
    with pytest.raises(RuntimeError, match="last"):
        async with db.transaction() as session:
            await _numbered(session, tenant, key)
            await first_row(session, _READ, {"k": key})
    with pytest.raises(RuntimeError, match="last"):
        async with db.transaction() as session:
            _, entity = await _numbered(session, tenant, key)
            entity.action = "changed"  # an UPDATE the ORM would flush apart from the lone statement
    with pytest.raises(RuntimeError, match="last"):
        async with db.transaction() as session:
            await _numbered(session, tenant, key)
            await session.execute(sa.text(f"UPDATE {_COUNTERS} SET last = 0 WHERE k = :k"), {"k": key})
    # the lone statements committed; nothing sent after one of them did
    assert await _last(db, key) == 3
    assert {e.action for e in await _entries(db, tenant) if e.entity_id != "log"} == {"create"}


async def test_one_taken_value_per_batch(db: Database, tenant: str) -> None:
    async with db.transaction() as session, writes.batched(session) as batch:
        batch.take(writes.Taken(_TAKE, {"c_key": "a", "c_prefix": "a-"}))
        with pytest.raises(ValueError, match="one taken value"):
            batch.take(writes.Taken(_TAKE, {"c_key": "b", "c_prefix": "b-"}))
        batch.taken = None  # nothing to send


async def test_with_statement_hooks_listening_the_batch_goes_through_sqlalchemy_in_the_transaction(
    db: Database, counters: str, tenant: str
) -> None:
    """SQL tracing (or a test counting statements) sees every statement: the taken value and the
    documents holding it are then bound by SQLAlchemy, and the statement is part of a transaction."""
    key = f"{tenant}-h"
    seen: list[str] = []

    def hook(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", hook)
    try:
        with Begins() as begun:
            async with db.transaction() as session:
                taken, entity = await _numbered(session, tenant, key)
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", hook)
    assert begun.sent == ["BEGIN"] and any("RETURNING" in s and "replace(" in s for s in seen)
    assert taken.value == entity.entity_id == f"{key}-001"
    logs = [e for e in await _entries(db, tenant) if e.entity_id == "log"]
    assert [e.changes for e in logs] == [{"number": taken.value, "list": [taken.value, "other"]}]
