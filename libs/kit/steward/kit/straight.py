"""Hot-path statements sent straight through asyncpg inside a session's transaction: SQLAlchemy's
SQL and bind processing, compiled once per constant statement (``steward.kit.driven``), without its
per-execution work; the transaction's connection asked of SQLAlchemy once (see ``held_connection``).
A lone session's statements go on its pooled connection (``steward.kit.pooled``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.util import greenlet_spawn
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.driven import SEALED, driven_text, fast_path, translated
from steward.kit.pooled import is_lone, lone_of, lone_statement
from steward.kit.readonly import IN_TRANSACTION, READ_ONLY, refuse_if_read_only

_HELD = "steward_held_connection"  # session.info: (its transaction, connection, DBAPI connection)


def _take(sync: Session) -> tuple[SessionTransaction | None, sa.Connection, Any]:
    conn = sync.connection()  # begins the session's transaction if need be
    return sync.get_transaction(), conn, conn.connection.dbapi_connection


async def held_connection(session: AsyncSession) -> tuple[sa.Connection, Any]:
    """The connection of the session's transaction and the driver-level (DBAPI) connection under
    it, asked of SQLAlchemy once per transaction, in one greenlet. Every greenlet AsyncSession
    starts maps (and at its end unmaps) a fresh 16 KiB frame stack, about 10-20 µs each; a filing
    started six of them to ask for the connection it already held."""
    if is_lone(session):
        raise RuntimeError("a lone session's statements go through first_row / all_rows only")
    sync = session.sync_session
    held = session.info.get(_HELD)
    if held is not None:
        transaction, conn, adapted = held
        alive = transaction is not None and transaction.is_active and not conn.invalidated
        if alive and transaction is sync.get_transaction():
            return conn, adapted
    transaction, conn, adapted = session.info[_HELD] = await greenlet_spawn(_take, sync)
    return conn, adapted


async def first_row(
    session: AsyncSession, clause: sa.TextClause, params: dict[str, Any], *, alone: bool = False
) -> Any:
    """The first row of a constant hot-path statement (``None`` without rows), in the session's
    transaction, sent straight through asyncpg: the same SQL and values SQLAlchemy would send (its
    compiled text and bind processing, worked out once per statement), without its per-execution
    work — about 95 µs of CPU a statement, a twentieth of a filing. As ``session.execute`` does, what
    the session holds is flushed first; a failure raises SQLAlchemy's ``DBAPIError`` subclass, and a
    lost connection is invalidated. While anything listens to the engine's statement events (a
    test counting statements, SQL tracing) the statement goes through SQLAlchemy to be seen.

    ``alone``: the statement is the transaction's last one. When nothing has been sent in the
    transaction before it, it goes without BEGIN and needs no COMMIT: PostgreSQL runs a statement
    sent outside a transaction block as a transaction of its own, all of it or nothing (one round
    trip instead of three). The transaction is then sealed: a statement after it raises
    ``RuntimeError`` (here, or at the transaction's end for one sent through SQLAlchemy), as it
    could no longer be part of what was committed."""
    return await _straight(session, clause, params, every=False, alone=alone)


async def all_rows(
    session: AsyncSession, clause: sa.TextClause, params: dict[str, Any], *, begin: bool = True
) -> Sequence[Any]:
    """Every row of a constant hot-path statement, sent as :func:`first_row` sends it.

    ``begin=False``, for a read: when nothing has been sent in the transaction yet, the statement
    goes without BEGIN (the transaction begins with its next statement). Under READ COMMITTED a
    read sees what was committed before it started, in a transaction or not, and holds no lock: it
    reads the same either way, and a transaction whose only other statement goes ``alone`` is then
    two round trips."""
    rows: Sequence[Any] = await _straight(session, clause, params, every=True, unbegun=not begin)
    return rows


def ensure_unsealed(session: AsyncSession) -> None:
    """At the end of a sealed transaction: nothing went through SQLAlchemy after the statement sent
    ``alone`` (that one committed on its own; what came after it would be committed apart from it)."""
    held = session.info.get(_HELD)
    if (held is not None and held[2]._transaction is not None) or not session.sync_session._is_clean():
        raise RuntimeError("a write after the transaction's last statement (first_row(alone=True))")


async def _straight(
    session: AsyncSession,
    clause: sa.TextClause,
    params: dict[str, Any],
    *,
    every: bool,
    alone: bool = False,
    unbegun: bool = False,
) -> Any:
    if session.info.get(SEALED):
        raise RuntimeError("a statement after the transaction's last one (first_row(alone=True))")
    lone = lone_of(session)
    if lone is not None:
        return await lone_statement(session, lone, clause, params, every=every, alone=alone, unbegun=unbegun)
    if session.info.get(READ_ONLY):
        refuse_if_read_only(session.info, clause.text)  # a read session flushes nothing either
    elif not session.sync_session._is_clean():
        await session.flush()
    conn, adapted = await held_connection(session)
    found = driven_text(clause, conn.dialect) if fast_path(conn) else None
    if found is None:
        result = await session.execute(clause, params)
        if isinstance(result, CursorResult) and not result.returns_rows:  # an UPDATE without RETURNING
            return [] if every else None
        return result.all() if every else result.first()
    args = found.args(params)
    driver = adapted._connection
    try:
        async with adapted._execute_mutex:  # as SQLAlchemy's asyncpg cursor does
            if adapted._transaction is None:
                if alone:
                    session.info[SEALED] = True  # sent (or failed): nothing may follow it
                elif not unbegun:
                    await adapted._start_transaction()  # BEGIN, as the transaction's first statement
            if every:
                return await driver.fetch(found.sql, *args)
            return await driver.fetchrow(found.sql, *args)
    except Exception as error:
        raise await _wrapped(conn, adapted, found.sql, args, error) from error


_SET_CONFIG = sa.text("SELECT set_config(:name, :value, true)")


async def set_local(session: AsyncSession, name: str, value: str) -> None:
    """``SET LOCAL name = value``: the setting for the rest of the session's transaction. A read
    session runs outside a transaction (``steward.kit.readonly``), where a local setting would last
    one statement: it begins one here — rolled back when the session ends, so the setting never
    outlives it on the pooled connection."""
    if session.info.get(READ_ONLY) is True:
        conn, adapted = await held_connection(session)
        try:
            async with adapted._execute_mutex:
                if adapted._transaction is None:
                    transaction = adapted._connection.transaction()
                    await transaction.start()
                    adapted._transaction = transaction  # SQLAlchemy's rollback at the end ends it
        except Exception as error:
            raise await _wrapped(conn, adapted, "BEGIN", [], error) from error
        session.info[READ_ONLY] = IN_TRANSACTION
    await session.execute(_SET_CONFIG, {"name": name, "value": value})


async def begin_now(session: AsyncSession) -> None:
    """Send the session's BEGIN now (the asyncpg driver otherwise sends it with the first statement)."""
    conn, adapted = await held_connection(session)
    if conn.dialect.driver != "asyncpg":
        return
    try:
        async with adapted._execute_mutex:
            if adapted._transaction is None:
                await adapted._start_transaction()
    except Exception as error:
        raise await _wrapped(conn, adapted, "BEGIN", [], error) from error


async def _wrapped(
    conn: sa.Connection, adapted: Any, sql: str, args: list[Any], error: Exception
) -> BaseException:
    return await translated(conn.dialect, adapted, sql, args, error, conn.invalidate)


async def take_connection(session: AsyncSession) -> None:
    """Take the connection the session's statements will go on, now (:func:`held_connection`; a
    lone session's pooled connection)."""
    lone = lone_of(session)
    if lone is not None:
        await lone.taken()
    else:
        await held_connection(session)
