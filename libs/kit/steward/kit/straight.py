"""Hot-path statements sent straight through asyncpg inside a session's transaction: SQLAlchemy's
SQL and bind processing, compiled once per constant statement, without its per-execution work;
the transaction's connection asked of SQLAlchemy once (see ``held_connection``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.pool import QueuePool
from sqlalchemy.util import greenlet_spawn
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.readonly import IN_TRANSACTION, READ_ONLY, refuse_if_read_only


@dataclass(frozen=True)
class Driven:
    """A compiled statement as asyncpg takes it."""

    sql: str  # as SQLAlchemy sends it ($1::TYPE placeholders)
    names: tuple[str, ...]  # the bind parameter of each placeholder
    processors: tuple[Callable[[Any], Any] | None, ...]  # SQLAlchemy's bind processing per placeholder
    fixed: dict[str, Any]  # values bound in the statement itself

    def args(self, params: dict[str, Any]) -> list[Any]:
        """The placeholders' values, processed as SQLAlchemy would (``None`` too: JSON's "null")."""
        values = {**self.fixed, **params}
        return [
            value if proc is None else proc(value)
            for proc, value in zip(self.processors, (values[n] for n in self.names), strict=True)
        ]


def driven(compiled: Any, dialect: Any) -> Driven | None:
    """``compiled`` (a statement compiled for ``dialect``) as asyncpg takes it; ``None`` for one
    with an expanding (``IN``) bind, whose text depends on its values."""
    names = tuple(compiled.positiontup or ())
    binds = compiled.binds
    if any(b.expanding for b in binds.values()):
        return None
    processors = tuple(binds[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names)
    fixed = {n: binds[n].value for n in names if binds[n].value is not None}
    return Driven(compiled.string, names, processors, fixed)


# by the clause itself (held here, so its identity is never reused by another)
_DRIVEN: dict[sa.TextClause, Driven | None] = {}


def driven_text(clause: sa.TextClause, dialect: Any) -> Driven | None:
    """:func:`driven` of a constant statement, worked out once per statement (``None``: not constant)."""
    if clause in _DRIVEN:
        return _DRIVEN[clause]
    found = driven(clause.compile(dialect=dialect), dialect)
    if found is not None and len(_DRIVEN) < 1024:  # hot paths' constant statements; others compile again
        _DRIVEN[clause] = found
    return found


def fast_path(target: sa.Connection | sa.Engine) -> bool:
    """No statement hooks listen on ``target`` (tests counting statements, SQL tracing) and the
    driver is asyncpg: a statement may go straight to the driver unseen."""
    listened = target.dispatch.before_cursor_execute or target.dispatch.after_cursor_execute
    return not listened and target.dialect.driver == "asyncpg"


_HELD = "steward_held_connection"  # session.info: (its transaction, connection, DBAPI connection)


def _take(sync: Session) -> tuple[SessionTransaction | None, sa.Connection, Any]:
    conn = sync.connection()  # begins the session's transaction if need be
    return sync.get_transaction(), conn, conn.connection.dbapi_connection


async def held_connection(session: AsyncSession) -> tuple[sa.Connection, Any]:
    """The connection of the session's transaction and the driver-level (DBAPI) connection under
    it, asked of SQLAlchemy once per transaction, in one greenlet. Every greenlet AsyncSession
    starts maps (and at its end unmaps) a fresh 16 KiB frame stack, about 10-20 µs each; a filing
    started six of them to ask for the connection it already held."""
    lone = session.info.get(_LONE)
    if lone is not None:
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


SEALED = "steward_sealed"  # session.info: its transaction's last statement was sent alone


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
    lone = session.info.get(_LONE)
    if lone is not None:
        return await _lone_statement(session, lone, clause, params, every=every, alone=alone, unbegun=unbegun)
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


async def checkin(raw: Any) -> None:
    """Give back a connection taken with ``engine.raw_connection()``. Into the pool's queue it goes
    with no I/O; but when the pool has no room for it (an overflow connection) or keeps none, it
    closes it — I/O for asyncpg, which SQLAlchemy can only do inside a greenlet (called plainly, the
    close failed and the pool logged "Exception closing connection")."""
    pool = raw._pool
    if isinstance(pool, QueuePool) and pool.checkedin() < pool.size():
        raw.close()  # no await between the check and this: the queue has room
    else:
        await greenlet_spawn(raw.close)


@dataclass(frozen=True)
class DriverTransaction:
    """The statements of a :func:`driver_transaction`: constant statements as :func:`first_row`
    sends them (SQLAlchemy's SQL and bind processing, worked out once), a failure raised as
    SQLAlchemy's ``DBAPIError`` subclass."""

    engine: AsyncEngine
    raw: Any  # the pooled connection
    adapted: Any  # SQLAlchemy's adaptation of the asyncpg connection

    async def rows(self, clause: sa.TextClause, params: dict[str, Any]) -> Sequence[Any]:
        """Every row of ``clause`` (none for a statement without RETURNING)."""
        found = driven_text(clause, self.engine.dialect)
        if found is None:
            raise ValueError("a statement sent straight is constant: no expanding (IN) parameters")
        args = found.args(params)
        try:
            rows: Sequence[Any] = await self.adapted._connection.fetch(found.sql, *args)
        except Exception as error:
            raise await _lost(self, found.sql, args, error) from error
        return rows


async def _lost(tx: DriverTransaction, sql: str, args: list[Any], error: Exception) -> BaseException:
    return await translated(tx.engine.dialect, tx.adapted, sql, args, error, tx.raw.invalidate)


@asynccontextmanager
async def driver_transaction(engine: AsyncEngine) -> AsyncIterator[DriverTransaction]:
    """A transaction on a pooled connection straight through asyncpg, without a session: BEGIN, the
    block's statements (:meth:`DriverTransaction.rows`), COMMIT — or ROLLBACK when the block raises
    (a lost connection is invalidated then). For a background loop's round that is nothing but a few
    constant statements (the outbox relay's): a session's transaction, its greenlets and bookkeeping
    cost more CPU than the round's work (480 µs a round against 200, measured with nothing pending).
    Only where :func:`fast_path` holds: statement hooks would not see these statements."""
    raw = await engine.raw_connection()  # the pool's checkout (and its idle ping) as for a session
    try:
        tx = DriverTransaction(engine, raw, raw.dbapi_connection)
        async with tx.adapted._execute_mutex:
            transaction = tx.adapted._connection.transaction()
            try:
                await transaction.start()
            except Exception as error:
                raise await _lost(tx, "BEGIN", [], error) from error
            try:
                yield tx
            except BaseException:
                try:
                    await transaction.rollback()
                except Exception as error:  # the connection is gone: the pool must not keep it
                    if raw.is_valid:  # (a failed statement of the block may have invalidated it)
                        await greenlet_spawn(raw.invalidate, error)
                raise
            try:
                await transaction.commit()
            except Exception as error:
                raise await _lost(tx, "COMMIT", [], error) from error
    finally:
        await checkin(raw)  # the transaction ended: the pool's reset has nothing to roll back


_LONE = "steward_lone"  # session.info: the pooled connection of a lone session (see lone_session)


@dataclass
class _Lone:
    engine: AsyncEngine
    turns: asyncio.Semaphore | None
    raw: Any = None  # the pooled connection, once taken
    adapted: Any = None

    async def taken(self) -> Any:
        if self.raw is None:
            if self.turns is not None:
                await self.turns.acquire()
            try:  # the pool's checkout (and its idle ping) as for a session
                self.raw = await self.engine.raw_connection()
            except BaseException:
                if self.turns is not None:
                    self.turns.release()
                raise
            self.adapted = self.raw.dbapi_connection
        return self.adapted

    async def give_back(self) -> None:
        if self.raw is not None:
            try:
                await checkin(self.raw)
            finally:
                self.raw = self.adapted = None
                if self.turns is not None:
                    self.turns.release()


async def take_connection(session: AsyncSession) -> None:
    """Take the connection the session's statements will go on, now (:func:`held_connection`; a
    lone session's pooled connection)."""
    lone = session.info.get(_LONE)
    if lone is not None:
        await lone.taken()
    else:
        await held_connection(session)


def is_lone(session: AsyncSession) -> bool:
    """Whether ``session`` is a :func:`lone_session`'s (nothing of it goes through SQLAlchemy)."""
    return _LONE in session.info


@asynccontextmanager
async def lone_session(
    engine: AsyncEngine, make: Callable[[], AsyncSession], turns: asyncio.Semaphore | None = None
) -> AsyncIterator[AsyncSession]:
    """A session for a transaction that is one statement sent alone (``kit.writes.batched(last=True)``,
    :func:`first_row` with ``alone``), optionally after reads sent without BEGIN (:func:`all_rows`
    with ``begin=False``), on one pooled connection — with no SQLAlchemy
    transaction, connection or commit: its bookkeeping and greenlets cost more CPU than the rest of
    such a request's database work (a session transaction around one ``SELECT 1``: about 275 µs of
    client CPU against 95 µs for the pooled connection, the statement and the checkin).

    The statement is a transaction of its own: it commits or fails whole, and an exception before
    it sends nothing. Anything else is refused with ``RuntimeError`` before it is sent: a statement
    that would need BEGIN or come after the last one, a flush of objects added to the session, any
    use of the session's own ``execute`` (its transaction would be on another connection). Only
    where :func:`fast_path` holds (``make``'s session otherwise: statement hooks see everything).

    ``turns``: lone sessions take their connections in arrival order, at most as many at once as it
    allows (the pool's size and overflow). The pool's own queue lets a new arrival take a connection
    given back for one that waited: with more requests than connections, a few waited for the pool
    again and again (32 clients on 20 connections: filing p99 80 ms before lone sessions, 370-690
    ms with them and no turns)."""
    if not fast_path(engine.sync_engine):
        raise RuntimeError("a lone session needs the fast path (statement hooks would not see it)")
    session = make()
    # the connection is taken with the first statement (or by take_connection), when a session
    # takes its own: taken at the start, a request held it while it validated, and with more
    # requests than connections the pool's waiters were overtaken by new arrivals (32 clients,
    # 20 connections: filing p99 80 -> 400 ms)
    lone = session.info[_LONE] = _Lone(engine, turns)
    try:
        yield session
        if session.sync_session.get_transaction() is not None or not session.sync_session._is_clean():
            raise RuntimeError("a lone session was used through SQLAlchemy")
    finally:
        session.info.pop(_LONE, None)
        if session.sync_session.get_transaction() is not None:  # (a programming error, refused above)
            await session.close()
        await lone.give_back()


async def _lone_statement(
    session: AsyncSession,
    lone: _Lone,
    clause: sa.TextClause,
    params: dict[str, Any],
    *,
    every: bool,
    alone: bool,
    unbegun: bool,
) -> Any:
    if not (alone or unbegun):
        raise RuntimeError("a lone session sends reads without BEGIN, then one statement alone")
    if session.sync_session.get_transaction() is not None:
        raise RuntimeError(
            "a lone session was used through SQLAlchemy (another connection, another transaction)"
        )
    if not session.sync_session._is_clean():
        raise RuntimeError("a lone session does not flush: queue its writes in kit.writes.batched")
    found = driven_text(clause, lone.engine.dialect)
    if found is None:
        raise ValueError("a statement sent straight is constant: no expanding (IN) parameters")
    args = found.args(params)
    adapted = await lone.taken()
    driver = adapted._connection
    try:
        async with adapted._execute_mutex:
            if alone:
                session.info[SEALED] = True  # sent (or failed): nothing may follow it
            if every:
                return await driver.fetch(found.sql, *args)
            return await driver.fetchrow(found.sql, *args)
    except Exception as error:
        raise await translated(
            lone.engine.dialect, adapted, found.sql, args, error, lone.raw.invalidate
        ) from error


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


async def translated(
    dialect: Any,
    adapted: Any,
    sql: str,
    args: list[Any],
    error: Exception,
    invalidate: Callable[[BaseException], None],
) -> BaseException:
    """``error`` as SQLAlchemy's Connection would raise it; a lost connection is invalidated
    (``invalidate``: the Connection's or the pooled connection's)."""
    dbapi_error = dialect.loaded_dbapi.Error
    try:
        adapted._handle_exception(error)  # raises the DBAPI error asyncpg's is translated to
    except dbapi_error as translated_error:
        lost = dialect.is_disconnect(translated_error, adapted, None)
        if lost:
            await greenlet_spawn(invalidate, translated_error)
        return DBAPIError.instance(
            sql, args, translated_error, dbapi_error, connection_invalidated=lost, dialect=dialect
        )
    except BaseException as other:
        return other
    return error
