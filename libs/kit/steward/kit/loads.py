"""Reads of table models by key for the hot ``GET`` paths: a constant ``select(Model).where(...)``
sent straight through asyncpg on a pooled connection, outside any session and transaction.

A read through a session (``Database.read()``, ``session.exec(select(Matter)...)``) pays for the
session, its transaction bookkeeping, two greenlets, the ORM's compile state and identity map:
about 0.85 ms of CPU to read one matter on a 2-core machine, against 0.30 ms here (a quarter of a
``GET /v1/matters/{id}``'s CPU saved). What comes back is what a read session gives once it has
ended: detached instances with every column loaded and nothing pending, built as SQLAlchemy builds
the rows it loads (the same SQL, the same bind and result processing, worked out once per
statement and result type).

While anything listens to the engine's statement events (a test counting statements, SQL
tracing) or the driver is not asyncpg, the statement goes through a read session instead, so it is
seen (the answer is the same)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import select

from steward.kit.driven import Driven, checkin, driven, driven_text, fast_path, translated

if TYPE_CHECKING:
    from steward.kit.db import Database

M = TypeVar("M")
T = TypeVar("T")


@dataclass(frozen=True)
class _Entity:
    mapper: Any
    columns: tuple[tuple[int, str], ...]  # (result column, model attribute) of each of its columns
    identity: tuple[int, ...]  # the result columns of its primary key (all NULL: an outer join's miss)


@dataclass(frozen=True)
class _Plan:
    statement: Driven  # the SQL, its placeholders and their bind processing
    entities: tuple[_Entity, ...]
    types: tuple[Any, ...]  # the SQL type of each result column
    results: tuple[Callable[[Any], Any] | None, ...] | None  # result processing; None: not yet known


async def by_id_or_key(db: Database, key: str, *, by_id: Load[M], by_key: Load[M]) -> M | None:
    """``by_id``'s row (bind parameter ``id``) when ``key`` reads as a UUID, else ``by_key``'s
    (bind parameter ``key``: a number, a code)."""
    try:
        ident = uuid.UUID(key)
    except ValueError:
        return await by_key.first(db, key=key)
    return await by_id.first(db, id=ident)


async def _pooled(engine: Any, sql: str, args: list[Any], work: Callable[[Any], Awaitable[T]]) -> T:
    """``work(driver)`` on a pooled connection (the pool's checkout and its idle ping, as for a
    session), outside any transaction; a driver error raised as SQLAlchemy raises it, a lost
    connection invalidated."""
    raw = await engine.raw_connection()
    try:
        adapted: Any = raw.dbapi_connection
        try:
            async with adapted._execute_mutex:
                return await work(adapted._connection)
        except Exception as error:
            raise await translated(engine.dialect, adapted, sql, args, error, raw.invalidate) from error
    finally:
        await checkin(raw)  # no transaction was begun: nothing to roll back


async def read_rows(db: Database, clause: sa.TextClause, params: dict[str, Any]) -> Sequence[Any]:
    """Every row of a constant read statement, straight through the driver on a pooled connection,
    outside any session and transaction (the values as the driver gives them, as ``all_rows``
    gives them); through a read session while statement hooks listen."""
    engine = db.engine
    found = driven_text(clause, engine.dialect) if fast_path(engine.sync_engine) else None
    if found is None:
        async with db.read() as session:
            return (await session.execute(clause, params)).all()
    args = found.args(params)
    return await _pooled(engine, found.sql, args, lambda driver: driver.fetch(found.sql, *args))


class _Reader:
    """A constant select of table models read straight through the driver (see the module's doc)."""

    def __init__(self, statement: Any, models: tuple[Any, ...]) -> None:
        self.statement = statement
        self._mappers: tuple[Any, ...] = tuple(sa.inspect(m) for m in models)
        self._plan: _Plan | None = None

    def _compiled(self, dialect: Any) -> _Plan:
        compiled = self.statement.compile(dialect=dialect)
        statement = driven(compiled, dialect)
        if statement is None:
            raise ValueError("a Load's statement is constant: no expanding (IN) parameters")
        columns = [
            next(o for o in objects if isinstance(o, sa.Column))
            for _keyname, _name, objects, _type in compiled._result_columns
        ]
        entities = []
        for mapper in self._mappers:
            mine = [(i, c) for i, c in enumerate(columns) if c.table is mapper.local_table]
            entities.append(
                _Entity(
                    mapper=mapper,
                    columns=tuple((i, mapper.get_property_by_column(c).key) for i, c in mine),
                    identity=tuple(i for i, c in mine if c.primary_key),
                )
            )
        return _Plan(
            statement=statement,
            entities=tuple(entities),
            types=tuple(type_ for _k, _n, _o, type_ in compiled._result_columns),
            results=None,
        )

    async def _rows(self, db: Database, params: dict[str, Any], *, one: bool) -> tuple[_Plan, list[Any]]:
        engine = db.engine
        dialect = engine.dialect
        plan = self._plan
        if plan is None:
            plan = self._plan = self._compiled(dialect)
        sql, args = plan.statement.sql, plan.statement.args(params)
        ready: _Plan = plan

        async def fetch(driver: Any) -> list[Any]:
            nonlocal ready
            if ready.results is None:
                # SQLAlchemy's result processing per column, as it works it out from the cursor's
                # description (a numeric's depends on the type the server sends)
                oids = [a.type.oid for a in (await driver.prepare(sql)).get_attributes()]
                results = tuple(
                    type_.dialect_impl(dialect).result_processor(dialect, oid)
                    for type_, oid in zip(ready.types, oids, strict=True)
                )
                ready = self._plan = replace(ready, results=results)
            if one:
                row = await driver.fetchrow(sql, *args)
                return [] if row is None else [row]
            return list(await driver.fetch(sql, *args))

        rows = await _pooled(engine, sql, args, fetch)
        return ready, rows

    @staticmethod
    def _instance(plan: _Plan, entity: _Entity, row: Any) -> Any:
        if entity.identity and all(row[i] is None for i in entity.identity):
            return None  # an outer join found nothing
        results = plan.results or ()
        obj: Any = entity.mapper.class_manager.new_instance()  # __new__ + instance state, as a load does
        for i, key in entity.columns:
            process = results[i]
            obj.__dict__[key] = row[i] if process is None else process(row[i])
        make_transient_to_detached(obj)  # an identity key, every column loaded and committed
        return obj


class Load(_Reader, Generic[M]):
    """``select(model).where(*where)`` with named bind parameters (``sa.bindparam("id")``), read
    with :meth:`first` or :meth:`all`. Build it once, at import: its SQL is worked out at its first
    use and kept."""

    def __init__(self, model: type[M], *where: sa.ColumnElement[bool] | bool) -> None:
        super().__init__(select(model).where(*where), (model,))

    async def first(self, db: Database, **params: Any) -> M | None:
        """The first row's instance, or ``None``."""
        found = await self._read(db, params, one=True)
        return found[0] if found else None

    async def all(self, db: Database, **params: Any) -> list[M]:
        return await self._read(db, params, one=False)

    async def _read(self, db: Database, params: dict[str, Any], *, one: bool) -> list[M]:
        if not fast_path(db.engine.sync_engine):
            async with db.read() as session:
                scalars = (await session.execute(self.statement, params)).scalars()
                if not one:
                    return list(scalars.all())
                first = scalars.first()
                return [] if first is None else [first]
        plan, rows = await self._rows(db, params, one=one)
        entity = plan.entities[0]
        return [self._instance(plan, entity, row) for row in rows]


class Joined(_Reader):
    """A constant ``select(A, B, ...)`` of table models — joins (outer ones too), ORDER BY, named
    bind parameters — read as :class:`Load` reads: each row a tuple of detached instances, ``None``
    for a model an outer join found nothing of (its primary key NULL). Build it once, at import."""

    def __init__(self, statement: Any) -> None:  # a select of table models (SQLAlchemy's or SQLModel's)
        models = tuple(d["entity"] for d in statement.column_descriptions)
        if any(d["entity"] is None or d["expr"] is not d["entity"] for d in statement.column_descriptions):
            raise ValueError("a Joined statement selects whole table models only")
        super().__init__(statement, models)

    async def all(self, db: Database, **params: Any) -> list[tuple[Any, ...]]:
        if not fast_path(db.engine.sync_engine):
            async with db.read() as session:
                return [tuple(row) for row in (await session.execute(self.statement, params)).all()]
        plan, rows = await self._rows(db, params, one=False)
        return [tuple(self._instance(plan, e, row) for e in plan.entities) for row in rows]
