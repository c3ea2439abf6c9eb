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

import functools
import itertools
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.pooled import is_lone
from steward.kit.straight import first_row

_BATCH = "steward_write_batch"

# (table, columns, ON CONFLICT clause, how each column's value is given) of each part, the NOTIFY
# channels, for conditional batches the (part, part it depends on or -1, reports) of each part, and
# the statement a taken value comes from → the statement's text. A hot path sends the same shape
# every time: its SQL is built once, and SQLAlchemy has no statement tree to walk for a cache key
# (building and keying Core INSERTs cost more CPU than running them).
_Part = tuple[str, tuple[str, ...], str, tuple[int, ...]]
_Shape = tuple[tuple[_Part, ...], tuple[str, ...], tuple[tuple[int, bool], ...], sa.TextClause | None]
_STATEMENTS: dict[_Shape, sa.TextClause] = {}
_MAX_STATEMENTS = 512
# how a column's value is given when a value is taken (see Taken): a parameter, the taken value
# itself, a JSON document or a text with the taken value in place of its token, or a JSON document
# without the token, as the JSON text it was serialised to when it was looked through for the token
_PLAIN, _IS_TAKEN, _HOLDS_TAKEN, _TEXT_HOLDS_TAKEN, _JSON_TEXT = 0, 1, 2, 3, 4
_AS_TEXT = (_HOLDS_TAKEN, _JSON_TEXT)  # sent as text, cast to the column's JSON type
_HOLDING = (_IS_TAKEN, _HOLDS_TAKEN, _TEXT_HOLDS_TAKEN)  # the taken value is in it once written


@functools.cache
def _names(part: int, columns: int) -> tuple[str, ...]:
    """The parameter names of a part's columns (the statement's text names them the same way)."""
    return tuple(f"p{part}_{j}" for j in range(columns))


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _placeholder(name: str, how: int, column: sa.Column[Any]) -> str:
    if how == _IS_TAKEN:
        return "(SELECT value FROM t)"
    if how == _HOLDS_TAKEN:  # the document comes as JSON text; the token, escaped as JSON, replaced
        kind = "JSONB" if isinstance(column.type, postgresql.JSONB) else "JSON"
        escaped = "(SELECT substr(to_json(value)::text, 2, length(to_json(value)::text) - 2) FROM t)"
        return f"CAST(replace(:{name}, :tk, {escaped}) AS {kind})"
    if how == _TEXT_HOLDS_TAKEN:
        return f"replace(:{name}, :tk, (SELECT value FROM t))"
    if how == _JSON_TEXT:
        return f"CAST(:{name} AS {'JSONB' if isinstance(column.type, postgresql.JSONB) else 'JSON'})"
    return ":" + name


def _text(shape: _Shape, tables: list[sa.Table]) -> sa.TextClause:
    cached = _STATEMENTS.pop(shape, None)
    if cached is not None:
        _STATEMENTS[shape] = cached  # the most recently used last: the first one is evicted
        return cached
    parts, channels, links, take = shape
    ctes: list[str] = []
    binds: list[sa.BindParameter[Any]] = []
    if take is not None:
        ctes.append(f"t AS ({take.text})")
        binds += list(take._bindparams.values())
        if any(m in (_HOLDS_TAKEN, _TEXT_HOLDS_TAKEN) for _, _, _, marks in parts for m in marks):
            binds.append(sa.bindparam("tk", type_=sa.Text()))
    for i, ((_, columns, conflict, marks), table) in enumerate(zip(parts, tables, strict=True)):
        names = _names(i, len(columns))
        hows = marks or (_PLAIN,) * len(columns)
        binds += [
            sa.bindparam(n, type_=sa.Text() if how in _AS_TEXT else table.c[c].type)
            for n, c, how in zip(names, columns, hows, strict=True)
            if how != _IS_TAKEN
        ]
        after, reports = links[i] if links else (-1, False)
        placeholders = ", ".join(
            _placeholder(n, how, table.c[c]) for n, c, how in zip(names, columns, hows, strict=True)
        )
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
    if take is not None:
        selected.append("(SELECT value FROM t) AS taken")
    sql = (f"WITH {', '.join(ctes)} " if ctes else "") + f"SELECT {', '.join(selected) or '1'}"
    clause = sa.text(sql).bindparams(*binds)
    if len(_STATEMENTS) >= _MAX_STATEMENTS:  # many shapes (attendance of 1…500 people): the least
        del _STATEMENTS[next(iter(_STATEMENTS))]  # recently used goes, the hot paths' stay
    _STATEMENTS[shape] = clause
    return clause


class Taken:
    """A value the batch's statement takes from the database as it writes — a counter's next
    number, from ``clause``: a constant statement returning one row with a column ``value`` (an
    upsert of the counter row ``RETURNING … AS value``), with ``params``. Until the statement has
    run, ``token`` stands for the value wherever the batch's rows hold it: as a column's value, or as
    a string inside a JSON document (an event's payload); the statement puts the value there. After
    the block, ``value`` holds it (and an attached instance has it in place of the token).

    The counter is then part of the writes' one statement: its row is locked only while that
    statement runs, and with ``batched(session, last=True)`` a filing is one round trip."""

    __slots__ = ("clause", "params", "token", "value")

    def __init__(self, clause: sa.TextClause, params: dict[str, Any]) -> None:
        self.clause, self.params = clause, params
        self.token = f"steward-taken-{secrets.token_hex(12)}"  # never in anything a caller sends
        self.value: Any = None


def _put(value: Any, token: str, taken: str) -> Any:
    """``value`` with ``taken`` in place of ``token`` (in a string, or in a document's strings)."""
    if isinstance(value, str):
        return value.replace(token, taken) if token in value else value
    if isinstance(value, dict):
        return {k: _put(v, token, taken) for k, v in value.items()}
    if isinstance(value, list):
        return [_put(v, token, taken) for v in value]
    return value


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
        self.taken: Taken | None = None
        self._holding: dict[Any, tuple[str, ...]] = {}  # row key → its columns holding the token
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

    def take(self, taken: Taken) -> None:
        """Take ``taken``'s value in the batch's statement (one per statement)."""
        if self.taken is not None and self.taken is not taken:
            raise ValueError("one taken value per batch")
        self.taken = taken

    def _marks(self, values: dict[str, Any], table: sa.Table) -> tuple[int, ...]:
        """How each column's value is given (see ``_placeholder``); a document is serialised here, as
        the JSON type would, to look for the token in it, and that text is what is sent (a document
        is serialised once)."""
        assert self.taken is not None
        token = self.taken.token
        marks = []
        for name, value in values.items():
            how = _PLAIN
            if isinstance(value, str) and token in value:
                how = _IS_TAKEN if value == token else _TEXT_HOLDS_TAKEN
            elif isinstance(value, (dict, list)) and isinstance(table.c[name].type, sa.JSON):
                text = json.dumps(value)
                values[name] = text
                how = _HOLDS_TAKEN if token in text else _JSON_TEXT
            marks.append(how)
        return tuple(marks) if any(marks) else ()

    def compose(self) -> tuple[sa.TextClause, dict[str, Any]] | None:
        """The one statement and its parameters, or None when nothing was queued."""
        if not self.rows and not self.channels and self.taken is None:
            return None
        taken = self.taken
        rows = list(self.rows.values())
        if taken is not None:  # its documents are sent as text: the callers' dicts stay as they were
            rows = [(table, dict(values), conflict) for table, values, conflict in rows]
        marks = [self._marks(values, table) if taken else () for table, values, _ in rows]
        parts = tuple(
            (table.name, tuple(values), conflict, m)
            for (table, values, conflict), m in zip(rows, marks, strict=True)
        )
        links: tuple[tuple[int, bool], ...] = ()
        if self.reporting:
            index = {key: i for i, key in enumerate(self.rows)}
            links = tuple(
                (index.get(self.conditions.get(key), -1), key in self.reporting) for key in self.rows
            )
            if any(after >= i for i, (after, _) in enumerate(links)):
                raise ValueError("a conditional part is queued before the part it depends on")
        shape: _Shape = (parts, tuple(self.channels), links, taken.clause if taken else None)
        params: dict[str, Any] = {}
        for i, (_, values, _) in enumerate(rows):
            names = _names(i, len(values))
            if marks[i]:
                sent = zip(names, values.values(), marks[i], strict=True)
                params.update((n, v) for n, v, how in sent if how != _IS_TAKEN)
            else:
                params.update(zip(names, values.values(), strict=True))
        if taken is not None:
            params.update(taken.params, tk=taken.token)
            self._holding = {
                key: tuple(name for name, how in zip(values, m, strict=True) if how in _HOLDING)
                for key, (_, values, _), m in zip(self.rows, rows, marks, strict=True)
                if m
            }
        return _text(shape, [table for table, _, _ in rows]), params

    async def execute(self, session: AsyncSession, *, alone: bool = False) -> None:
        """Send the statement (``alone``: as the transaction's last one, see ``first_row``)."""
        composed = self.compose()
        reporting = [key for key in self.rows if key in self.reporting]
        conditions, taken, holding = self.conditions, self.taken, self._holding
        attach, self.rows, self.channels, self.attach = self.attach, {}, [], []
        self._holding = {}
        self.conditions, self.reporting, self.taken = {}, set(), None
        if composed is not None:
            row = await first_row(session, *composed, alone=alone)  # the statement's SELECT: one row
            if reporting:
                self.written.update(zip(reporting, (bool(v) for v in row[: len(reporting)]), strict=True))
            if taken is not None:
                taken.value = row[-1]
        lone = is_lone(session)  # no SQLAlchemy session to hold the objects: they stay detached
        for key, obj in attach:
            if not self.written.get(conditions.get(key, key), True) or not self.written.get(key, True):
                continue  # a repeat: its row is not this object
            if taken is not None:  # the attributes whose values held the token get the value
                for name in holding.get(key, ()):
                    attribute = obj.__table__.c[name].key
                    setattr(obj, attribute, _put(getattr(obj, attribute), taken.token, taken.value))
            make_transient_to_detached(obj)  # its attributes now count as loaded from the row
            if not lone:
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
async def batched(session: AsyncSession, *, last: bool = False) -> AsyncIterator[WriteBatch]:
    """Queue the block's writes and send them as one statement at its end (not on an exception:
    the transaction is rolled back then anyway). ``last``: nothing follows the block in the
    transaction; if nothing was sent in it before either, the statement goes alone — without BEGIN
    and COMMIT, a transaction of its own (``kit.straight.first_row``). A nested block's ``last``
    is the outer block's business."""
    if current(session) is not None:  # nested: the outer block sends everything
        yield session.info[_BATCH]
        return
    batch = WriteBatch()
    session.info[_BATCH] = batch
    try:
        yield batch
    finally:
        session.info.pop(_BATCH, None)
    await batch.execute(session, alone=last)
