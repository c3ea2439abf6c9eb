"""``kit.straight.first_row``: a hot path's constant statement sent straight through asyncpg, in the
session's transaction, with SQLAlchemy's values, errors and connection handling (real PostgreSQL)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from steward.kit.audit import AuditEntry
from steward.kit.db import Database, sqlstate
from steward.kit.straight import all_rows, begin_now, first_row
from steward.kit.testing import Greenlets

_INSERT = sa.text(
    "INSERT INTO steward_audit (id, at, actor, tenant, action, entity, entity_id, changes) "
    "VALUES (:id, now(), 'u1', :tenant, 'create', 'doc', :entity_id, :changes) RETURNING entity_id, changes"
).bindparams(
    sa.bindparam("id", type_=sa.Uuid()),
    sa.bindparam("changes", type_=AuditEntry.__table__.c.changes.type),  # type: ignore[attr-defined]
)
_COUNT = sa.text("SELECT count(*) FROM steward_audit WHERE tenant = :tenant")


@pytest.fixture
def no_sqlalchemy_execute(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLAlchemy executing a text statement fails the test (but for ``_count``'s reads): the
    statement must go through asyncpg (the session's and the connection's ``execute`` both end in
    this one)."""
    real = sa.engine.Connection.execute

    def refused(self: Any, statement: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(statement, sa.TextClause) and not _READING:  # not the ORM's flush either
            raise AssertionError("went through SQLAlchemy's execute")
        return real(self, statement, *args, **kwargs)

    monkeypatch.setattr(sa.engine.Connection, "execute", refused)


_READING: list[bool] = []


async def _count(db: Database, tenant: str) -> int:
    _READING.append(True)
    try:
        async with db.read() as session:
            return int((await session.execute(_COUNT, {"tenant": tenant})).scalar_one())
    finally:
        _READING.pop()


async def test_values_are_bound_as_sqlalchemy_binds_them(
    db: Database, tenant: str, no_sqlalchemy_execute: None
) -> None:
    async with db.transaction() as session:
        row = await first_row(
            session,
            _INSERT,
            {"id": uuid.uuid4(), "tenant": tenant, "entity_id": "e1", "changes": {"a": [1, "二"]}},
        )
    assert tuple(row) == ("e1", {"a": [1, "二"]})  # the JSONB went in as JSON and came back decoded
    assert await _count(db, tenant) == 1


async def test_it_is_part_of_the_transaction_even_as_its_first_statement(
    db: Database, tenant: str, no_sqlalchemy_execute: None
) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await first_row(
                session, _INSERT, {"id": uuid.uuid4(), "tenant": tenant, "entity_id": "e", "changes": {}}
            )
            raise RuntimeError("the request fails after the write")
    assert await _count(db, tenant) == 0, "BEGIN was sent first: the write was rolled back"


async def test_what_the_session_holds_is_flushed_first(
    db: Database, tenant: str, no_sqlalchemy_execute: None
) -> None:
    async with db.transaction() as session:
        session.add(AuditEntry(actor="u1", tenant=tenant, action="create", entity="doc", entity_id="orm"))
        (count,) = await first_row(session, _COUNT, {"tenant": tenant})
    assert count == 1


async def test_a_failure_is_sqlalchemys_error_with_its_sqlstate(db: Database, tenant: str) -> None:
    same = uuid.uuid4()
    async with db.transaction() as session:
        await first_row(session, _INSERT, {"id": same, "tenant": tenant, "entity_id": "a", "changes": {}})
    with pytest.raises(sa.exc.IntegrityError) as caught:
        async with db.transaction() as session:
            await first_row(session, _INSERT, {"id": same, "tenant": tenant, "entity_id": "b", "changes": {}})
    assert sqlstate(caught.value) == "23505"
    assert not caught.value.connection_invalidated
    assert await _count(db, tenant) == 1


async def test_a_lost_connection_is_invalidated_and_the_next_transaction_works(
    db: Database, tenant: str
) -> None:
    with pytest.raises(sa.exc.DBAPIError) as caught:
        async with db.transaction() as session:
            (pid,) = await first_row(session, sa.text("SELECT pg_backend_pid()"), {})
            async with db.engine.connect() as other:
                await other.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            await first_row(session, _COUNT, {"tenant": tenant})
    assert caught.value.connection_invalidated
    async with db.transaction() as session:  # a fresh connection, not the dead one
        (count,) = await first_row(session, _COUNT, {"tenant": tenant})
    assert count == 0


async def test_with_statement_hooks_listening_the_statement_goes_through_sqlalchemy(
    db: Database, tenant: str
) -> None:
    seen: list[str] = []

    def hook(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", hook)
    try:
        async with db.transaction() as session:
            await first_row(session, _COUNT, {"tenant": tenant})
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", hook)
    assert any("count(*)" in s for s in seen)


async def test_a_statement_without_rows_answers_none_on_either_path(db: Database, tenant: str) -> None:
    """An UPDATE without RETURNING: ``None`` from the driver, and the same through SQLAlchemy while
    statement hooks listen (SQL tracing), where the result has no rows to ask for."""
    touch = sa.text("UPDATE steward_audit SET actor = actor WHERE tenant = :tenant")
    hook = lambda *_: None  # noqa: E731
    for listening in (False, True):
        if listening:
            sa.event.listen(db.engine.sync_engine, "before_cursor_execute", hook)
        try:
            async with db.transaction() as session:
                assert await first_row(session, touch, {"tenant": tenant}) is None
                assert await all_rows(session, touch, {"tenant": tenant}) == []
        finally:
            if listening:
                sa.event.remove(db.engine.sync_engine, "before_cursor_execute", hook)


async def test_a_statement_with_an_in_list_goes_through_sqlalchemy(db: Database, tenant: str) -> None:
    """An expanding bind's SQL depends on how many values it gets: SQLAlchemy renders it."""
    in_list = sa.text("SELECT count(*) FROM steward_audit WHERE tenant = :tenant AND entity_id IN :ids")
    in_list = in_list.bindparams(sa.bindparam("ids", expanding=True))
    async with db.transaction() as session:
        for e in ("a", "b", "c"):
            await first_row(
                session, _INSERT, {"id": uuid.uuid4(), "tenant": tenant, "entity_id": e, "changes": {}}
            )
        (count,) = await first_row(session, in_list, {"tenant": tenant, "ids": ["a", "c", "x"]})
    assert count == 2


async def test_a_transaction_asks_sqlalchemy_for_its_connection_once(db: Database, tenant: str) -> None:
    """Its BEGIN sent early, three statements and the commit: one greenlet takes the connection,
    the commit and closing the session one each (14 when every statement asked again)."""
    async with db.transaction() as session:  # warm: the pool's connection exists
        await first_row(session, _COUNT, {"tenant": tenant})
    with Greenlets() as counted:
        async with db.transaction() as session:
            await begin_now(session)
            for e in ("a", "b"):
                await first_row(
                    session, _INSERT, {"id": uuid.uuid4(), "tenant": tenant, "entity_id": e, "changes": {}}
                )
            (count,) = await first_row(session, _COUNT, {"tenant": tenant})
    assert count == 2
    assert len(counted.started) <= 3, f"{len(counted.started)} greenlets for one transaction"


async def test_once_the_sessions_transaction_ends_the_next_statement_is_in_a_new_one(
    db: Database, tenant: str
) -> None:
    """A session that goes on after a rollback: its next statement must not go to the connection
    the ended transaction held (back in the pool by then) but begin a transaction of its own."""
    async with db.sessionmaker() as session:
        await first_row(
            session, _INSERT, {"id": uuid.uuid4(), "tenant": tenant, "entity_id": "x", "changes": {}}
        )
        await session.rollback()
        await first_row(
            session, _INSERT, {"id": uuid.uuid4(), "tenant": tenant, "entity_id": "y", "changes": {}}
        )
        await session.rollback()
        await first_row(
            session, _INSERT, {"id": uuid.uuid4(), "tenant": tenant, "entity_id": "z", "changes": {}}
        )
        await session.commit()
    assert await _count(db, tenant) == 1
