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
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import sqlalchemy as sa
from pydantic_core import to_json
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit import writes_sql
from steward.kit.pooled import is_lone
from steward.kit.straight import first_row
from steward.kit.writes_sql import (
    HOLDING,
    HOLDS_TAKEN,
    IS_TAKEN,
    JSON_TEXT,
    PLAIN,
    TEXT_HOLDS_TAKEN,
    Shape,
)

_BATCH = "steward_write_batch"

# per table, read once from its columns: each column's attribute, name, Python-side default (a
# callable, or a constant) and whether the database has a default; and the names of its JSON columns
_Columns = tuple[tuple[str, str, Any, Any, bool], ...]
_PLANS: dict[sa.Table, tuple[_Columns, frozenset[str]]] = {}


def _plan(table: sa.Table) -> tuple[_Columns, frozenset[str]]:
    plan = _PLANS.get(table)
    if plan is None:
        columns = []
        for column in table.columns:
            default, call, constant = column.default, None, None
            if default is not None:
                if default.is_callable:
                    call = default.arg  # type: ignore[attr-defined]  # SQLAlchemy wraps 0-arg callables
                elif default.is_scalar:
                    constant = default.arg  # type: ignore[attr-defined]
            columns.append((column.key, column.name, call, constant, column.server_default is not None))
        documents = frozenset(c.name for c in table.columns if isinstance(c.type, sa.JSON))
        plan = _PLANS[table] = (tuple(columns), documents)
    return plan


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
        for attr, name, call, constant, server_default in _plan(table)[0]:
            value = getattr(obj, attr, None)
            if value is None:
                value = call(None) if call is not None else constant
                if value is not None:
                    setattr(obj, attr, value)
                elif server_default:
                    continue  # the database's default, as the ORM would leave it
            values[name] = value
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
        """How each column's value is given (see ``writes_sql._placeholder``); () when every one is plain. A
        document is serialised here (pydantic-core's encoder: about half the time of ``json.dumps``)
        to look for the token in it, and that text is what is sent (a document is serialised
        once)."""
        assert self.taken is not None
        token = self.taken.token
        documents = _plan(table)[1]
        marks: list[int] | None = None
        for i, (name, value) in enumerate(values.items()):
            if isinstance(value, str):
                if token not in value:
                    continue
                how = IS_TAKEN if value == token else TEXT_HOLDS_TAKEN
            elif name in documents and isinstance(value, (dict, list)):
                text = to_json(value).decode()
                values[name] = text  # the same key: the dict's size and order stay
                how = HOLDS_TAKEN if token in text else JSON_TEXT
            else:
                continue
            if marks is None:
                marks = [PLAIN] * len(values)
            marks[i] = how
        return tuple(marks) if marks else ()

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
        shape: Shape = (parts, tuple(self.channels), links, taken.clause if taken else None)
        params: dict[str, Any] = {}
        for i, (_, values, _) in enumerate(rows):
            names = writes_sql.names(i, len(values))
            params.update(zip(names, values.values(), strict=True))
            if IS_TAKEN in marks[i]:  # the statement puts the value there itself
                for name, how in zip(names, marks[i], strict=True):
                    if how == IS_TAKEN:
                        del params[name]
        if taken is not None:
            params.update(taken.params, tk=taken.token)
            self._holding = {
                key: tuple(name for name, how in zip(values, m, strict=True) if how in HOLDING)
                for key, (_, values, _), m in zip(self.rows, rows, marks, strict=True)
                if any(how in m for how in HOLDING)
            }
        return writes_sql.statement(shape, [table for table, _, _ in rows]), params

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
