"""Statements on a pooled connection of their own, straight through asyncpg, with no SQLAlchemy
session transaction: a background loop's round of a few constant statements in one transaction
(:func:`driver_transaction`), and a request's transaction that is one statement sent alone after
reads without BEGIN (:func:`lone_session`). SQLAlchemy's session, its transaction and greenlets cost
more CPU than such work itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.driven import SEALED, checkin, constant, fast_path, translated


@dataclass(frozen=True)
class DriverTransaction:
    """The statements of a :func:`driver_transaction`: constant statements as
    ``steward.kit.straight.first_row`` sends them (SQLAlchemy's SQL and bind processing, worked out
    once), a failure raised as SQLAlchemy's ``DBAPIError`` subclass."""

    engine: AsyncEngine
    raw: Any  # the pooled connection
    adapted: Any  # SQLAlchemy's adaptation of the asyncpg connection

    async def rows(self, clause: sa.TextClause, params: dict[str, Any]) -> Sequence[Any]:
        """Every row of ``clause`` (none for a statement without RETURNING)."""
        found = constant(clause, self.engine.dialect)
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


def lone_of(session: AsyncSession) -> _Lone | None:
    """The pooled connection (taken or not) of a :func:`lone_session`'s session, else None."""
    lone: _Lone | None = session.info.get(_LONE)
    return lone


def is_lone(session: AsyncSession) -> bool:
    """Whether ``session`` is a :func:`lone_session`'s (nothing of it goes through SQLAlchemy)."""
    return _LONE in session.info


@asynccontextmanager
async def lone_session(
    engine: AsyncEngine, make: Callable[[], AsyncSession], turns: asyncio.Semaphore | None = None
) -> AsyncIterator[AsyncSession]:
    """A session for a transaction that is one statement sent alone (``kit.writes.batched(last=True)``,
    ``kit.straight.first_row`` with ``alone``), optionally after reads sent without BEGIN
    (``kit.straight.all_rows`` with ``begin=False``), on one pooled connection — with no SQLAlchemy
    transaction, connection or commit: its bookkeeping and greenlets cost more CPU than the rest of
    such a request's database work (a session transaction around one ``SELECT 1``: about 275 µs of
    client CPU against 95 µs for the pooled connection, the statement and the checkin).

    The statement is a transaction of its own: it commits or fails whole, and an exception before
    it sends nothing. Anything else is refused with ``RuntimeError`` before it is sent: a statement
    that would need BEGIN or come after the last one, a flush of objects added to the session, any
    use of the session's own ``execute`` (its transaction would be on another connection). Only
    where :func:`fast_path` holds (``Database.lone`` opens a transaction otherwise: statement hooks
    see everything).

    ``turns``: lone sessions take their connections in arrival order, at most as many at once as it
    allows (the pool's connections). The pool's own queue lets a new arrival take a connection
    given back for one that waited: with more requests than connections, a few waited for the pool
    again and again (32 clients on 20 connections: filing p99 80 ms before lone sessions, 370-690
    ms with them and no turns)."""
    if not fast_path(engine.sync_engine):
        raise RuntimeError("a lone session needs the fast path (statement hooks would not see it)")
    session = make()
    # the connection is taken with the first statement (or by kit.straight.take_connection), when a
    # session
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


async def lone_statement(
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
    found = constant(clause, lone.engine.dialect)
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
