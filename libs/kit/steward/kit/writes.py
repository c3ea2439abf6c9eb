"""One round trip per state change: the rows a hot path writes go to PostgreSQL as one statement.

The ORM writes a state change as a sequence — the entity, its history row, the audit entry, the
outbox event, a NOTIFY, the timers — each a round trip with its own share of SQLAlchemy's and
asyncpg's per-statement work. Inside ``async with batched(session):`` the kit's writers
(:func:`add` — used by ``audit.record``, ``outbox.emit`` and the services' history helpers —,
``timers.schedule`` and ``timers.cancel``) queue their rows instead, and the block's end sends them
as one statement of data-modifying CTEs (``WITH w0 AS (INSERT …), w1 AS (INSERT …) SELECT
pg_notify(…)``). PostgreSQL runs every part exactly once, in the caller's transaction; foreign keys
between the parts are checked at the end of the statement, so a history row may reference the
entity inserted beside it.

Rules for a batched block: it only writes (a read inside it would not see the queued rows), and
what it writes needs no value from the database (ids and timestamps are set in Python; a counter
that the row needs is taken before the block). Only INSERTs (upserts included) are queued: parts of
one statement do not see each other's effects, so a DELETE or UPDATE — which may target a row queued
here — first sends what is queued and then runs on its own (``timers.cancel`` does that), and an
upsert queued twice under the same ``key`` keeps the last one (PostgreSQL refuses one statement that
touches a row twice). Outside a batch every writer behaves as before.

Conditional parts, for writes that are idempotent in the database (``ON CONFLICT DO NOTHING``): a
part queued with ``report=True`` says after the block whether it wrote its row
(``batch.written[key]``), and the parts queued inside ``with batch.only_if(key):`` — an audit entry,
an event — are written only if it did (``INSERT … SELECT … WHERE EXISTS (SELECT FROM w<i>)``), still
in the one statement (its values typed by the casts the asyncpg dialect puts on every parameter).
The NOTIFY is sent either way (a repeat wakes the relay for nothing).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.straight import first_row

_BATCH = "steward_write_batch"

# (table, columns, ON CONFLICT clause) of each part, the NOTIFY channels, and for conditional
# batches the (part, part it depends on or -1, reports) of each part → the statement's text.
# A hot path sends the same shape every time: its SQL is built once, and SQLAlchemy has no statement
# tree to walk for a cache key (building and keying Core INSERTs cost more CPU than running them).
_Shape = (
    tuple[tuple[tuple[str, tuple[str, ...], str], ...], tuple[str, ...]]
    | tuple[tuple[tuple[str, tuple[str, ...], str], ...], tuple[str, ...], tuple[tuple[int, bool], ...]]
)
_STATEMENTS: dict[_Shape, sa.TextClause] = {}
_MAX_STATEMENTS = 512


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(shape: _Shape, tables: list[sa.Table]) -> sa.TextClause:
    cached = _STATEMENTS.pop(shape, None)
    if cached is not None:
        _STATEMENTS[shape] = cached  # the most recently used last: the first one is evicted
        return cached
    parts, channels = shape[0], shape[1]
    links: tuple[tuple[int, bool], ...] = shape[2] if len(shape) > 2 else ()  # type: ignore[misc]
    ctes: list[str] = []
    binds: list[sa.BindParameter[Any]] = []
    for i, ((_, columns, conflict), table) in enumerate(zip(parts, tables, strict=True)):
        names = [f"p{i}_{j}" for j in range(len(columns))]
        binds += [sa.bindparam(n, type_=table.c[c].type) for n, c in zip(names, columns, strict=True)]
        after, reports = links[i] if links else (-1, False)
        placeholders = ", ".join(":" + n for n in names)
        rows = (
            f"SELECT {placeholders} WHERE EXISTS (SELECT FROM w{after})"
            if after >= 0
            else f"VALUES ({placeholders})"
        )
        ctes.append(
            f"w{i} AS (INSERT INTO {_quoted(table.name)} ({', '.join(_quoted(c) for c in columns)}) "
            f"{rows}{' ' + conflict if conflict else ''}{' RETURNING 1' if reports else ''})"
        )
    selected = [f"EXISTS (SELECT FROM w{i}) AS r{i}" for i, (_, reports) in enumerate(links) if reports]
    selected += [f"pg_notify(:n{k}, '')" for k in range(len(channels))]
    binds += [sa.bindparam(f"n{k}", value=ch, type_=sa.String()) for k, ch in enumerate(channels)]
    sql = (f"WITH {', '.join(ctes)} " if ctes else "") + f"SELECT {', '.join(selected) or '1'}"
    clause = sa.text(sql).bindparams(*binds)
    if len(_STATEMENTS) >= _MAX_STATEMENTS:  # many shapes (attendance of 1…500 people): the least
        del _STATEMENTS[next(iter(_STATEMENTS))]  # recently used goes, the hot paths' stay
    _STATEMENTS[shape] = clause
    return clause


class WriteBatch:
    """Rows queued for one round trip (see the module's doc)."""

    def __init__(self) -> None:
        # key → (table, {column: value}, ON CONFLICT clause)
        self.rows: dict[Any, tuple[sa.Table, dict[str, Any], str]] = {}
        self.channels: list[str] = []
        self.attach: list[Any] = []
        # conditional parts (see the module's doc): row key → the key of the part it depends on;
        # the parts that report; what they reported, by key, for every statement sent so far
        self.conditions: dict[Any, Any] = {}
        self.reporting: set[Any] = set()
        self.written: dict[Any, bool] = {}
        self._when: Any = None
        self._seq = itertools.count()  # part keys stay unique for the batch's life (``written``)

    def wrote(self, key: Any) -> bool:
        """Whether the reporting part ``key`` wrote its row, once its statement was sent."""
        if key in self.rows:
            raise RuntimeError(
                "the part is not sent yet (a batched block nested in another sends at the outer end)"
            )
        return self.written[key]

    @contextmanager
    def only_if(self, key: Any) -> Iterator[None]:
        """Parts queued inside are written only if the reporting part ``key`` wrote its row."""
        if key not in self.reporting or key not in self.rows:
            raise ValueError("only_if needs a part queued in this batch with report=True")
        previous, self._when = self._when, key
        try:
            yield
        finally:
            self._when = previous

    def _queued(self, key: Any, report: bool) -> Any:
        if self._when in self.rows:
            self.conditions[key] = self._when
        elif self._when is not None and not self.written.get(self._when, True):
            del self.rows[key]  # its condition was sent already (timers.cancel) and wrote nothing
            self.written[key] = False
        if report:
            self.reporting.add(key)
        return key

    def add(self, obj: Any, *, attach: bool = False, report: bool = False) -> Any:
        """Queue the INSERT of a table model instance, its Python-side defaults filled in (and set on
        the instance, so it reads as the ORM would have left it after a flush). ``attach``: once
        written, the instance joins the session as a loaded row, so later changes to it are flushed
        as UPDATEs like any ORM object's (for the entity a caller goes on working with); under
        ``only_if`` or with ``report``, only if its row was written. Returns the part's key."""
        table: sa.Table = obj.__table__
        values: dict[str, Any] = {}
        for column in table.columns:
            value = getattr(obj, column.key, None)
            if value is None and column.default is not None:
                default = column.default
                if default.is_callable:
                    value = default.arg(None)  # type: ignore[attr-defined]  # SQLAlchemy wraps 0-arg callables
                elif default.is_scalar:
                    value = default.arg  # type: ignore[attr-defined]
                if value is not None:
                    setattr(obj, column.key, value)
            if value is None and column.server_default is not None:
                continue  # the database's default, as the ORM would leave it
            values[column.name] = value
        key = (next(self._seq), id(obj))
        self.rows[key] = (table, values, "")
        if attach:
            self.attach.append((key, obj))
        return self._queued(key, report)

    def insert(
        self,
        table: sa.Table,
        values: dict[str, Any],
        *,
        on_conflict: str = "",
        key: Any = None,
        report: bool = False,
    ) -> Any:
        """Queue an INSERT of ``values`` (column name → value), an upsert with ``on_conflict`` (the
        SQL clause, a constant). A later one with the same ``key`` replaces an earlier one.
        ``report``: ``written[key]`` says after the block whether the row was written (e.g. not a
        repeat under ``ON CONFLICT DO NOTHING``). Returns the part's key."""
        if key is not None:
            self.rows.pop(key, None)  # the last one, in its own place in the order
            self.conditions.pop(key, None)
            self.reporting.discard(key)
        else:
            key = (next(self._seq), id(values))
        self.rows[key] = (table, values, on_conflict)
        return self._queued(key, report)

    def notify(self, channel: str) -> None:
        if channel not in self.channels:
            self.channels.append(channel)

    def compose(self) -> tuple[sa.TextClause, dict[str, Any]] | None:
        """The one statement and its parameters, or None when nothing was queued."""
        if not self.rows and not self.channels:
            return None
        rows = list(self.rows.values())
        parts = tuple((table.name, tuple(values), conflict) for table, values, conflict in rows)
        shape: _Shape = (parts, tuple(self.channels))
        if self.reporting:
            index = {key: i for i, key in enumerate(self.rows)}
            links = tuple(
                (index.get(self.conditions.get(key), -1), key in self.reporting) for key in self.rows
            )
            if any(after >= i for i, (after, _) in enumerate(links)):
                raise ValueError("a conditional part is queued before the part it depends on")
            shape = (parts, tuple(self.channels), links)
        params = {
            f"p{i}_{j}": v for i, (_, values, _) in enumerate(rows) for j, v in enumerate(values.values())
        }
        return _text(shape, [table for table, _, _ in rows]), params

    async def execute(self, session: AsyncSession) -> None:
        composed = self.compose()
        reporting = [key for key in self.rows if key in self.reporting]
        conditions = self.conditions
        attach, self.rows, self.channels, self.attach = self.attach, {}, [], []
        self.conditions, self.reporting = {}, set()
        if composed is not None:
            row = await first_row(session, *composed)  # the SELECT of the statement: one row
            if reporting:
                self.written.update(zip(reporting, (bool(v) for v in row[: len(reporting)]), strict=True))
        for key, obj in attach:
            if not self.written.get(conditions.get(key, key), True) or not self.written.get(key, True):
                continue  # a repeat: its row is not this object
            make_transient_to_detached(obj)  # its attributes now count as loaded from the row
            session.add(obj)


def current(session: AsyncSession) -> WriteBatch | None:
    """The batch the session's writers queue into, if a ``batched`` block is open."""
    batch = session.info.get(_BATCH)
    return batch if isinstance(batch, WriteBatch) else None


def add(session: AsyncSession, obj: Any, *, attach: bool = False) -> None:
    """``session.add(obj)``, or queued in the open batch (``attach``: see :meth:`WriteBatch.add`)."""
    batch = current(session)
    if batch is None:
        session.add(obj)
    else:
        batch.add(obj, attach=attach)


async def insert(
    session: AsyncSession, table: sa.Table, values: dict[str, Any], *, on_conflict: str = "", key: Any = None
) -> None:
    """An INSERT (or upsert) through a cached statement: queued in the open batch, else run now."""
    batch = current(session)
    if batch is not None:
        batch.insert(table, values, on_conflict=on_conflict, key=key)
        return
    one = WriteBatch()
    one.insert(table, values, on_conflict=on_conflict)
    await one.execute(session)


@asynccontextmanager
async def batched(session: AsyncSession) -> AsyncIterator[WriteBatch]:
    """Queue the block's writes and send them as one statement at its end (not on an exception:
    the transaction is rolled back then anyway)."""
    if current(session) is not None:  # nested: the outer block sends everything
        yield session.info[_BATCH]
        return
    batch = WriteBatch()
    session.info[_BATCH] = batch
    try:
        yield batch
    finally:
        session.info.pop(_BATCH, None)
    await batch.execute(session)
