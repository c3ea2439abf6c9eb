"""Constant statements as asyncpg takes them: SQLAlchemy's compiled SQL and bind processing, worked
out once per statement (:func:`driven_text`), sent straight to the driver without SQLAlchemy's
per-execution work; its errors translated as SQLAlchemy's Connection raises them. The base of
``steward.kit.straight`` (in a session's transaction) and ``steward.kit.pooled`` (on a pooled
connection without one)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import QueuePool
from sqlalchemy.util import greenlet_spawn


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


def constant(clause: sa.TextClause, dialect: Any) -> Driven:
    """:func:`driven_text` of a statement that must be constant (no session to fall back on)."""
    found = driven_text(clause, dialect)
    if found is None:
        raise ValueError("a statement sent straight is constant: no expanding (IN) parameters")
    return found


SEALED = "steward_sealed"  # session.info: its transaction's last statement was sent alone


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
