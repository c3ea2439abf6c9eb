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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import select

from steward.kit.straight import translated

if TYPE_CHECKING:
    from steward.kit.db import Database

M = TypeVar("M")


@dataclass(frozen=True)
class _Plan:
    sql: str  # as SQLAlchemy sends it ($1::TYPE placeholders)
    names: tuple[str, ...]  # the bind parameter of each placeholder
    binds: tuple[Callable[[Any], Any] | None, ...]  # SQLAlchemy's bind processing per placeholder
    fixed: dict[str, Any]  # values bound in the statement itself (``Model.kind == "obstacle"``)
    keys: tuple[str, ...]  # the model attribute of each result column
    results: tuple[Callable[[Any], Any] | None, ...] | None  # result processing; None: not yet known


async def by_id_or_key(db: Database, key: str, *, by_id: Load[M], by_key: Load[M]) -> M | None:
    """``by_id``'s row (bind parameter ``id``) when ``key`` reads as a UUID, else ``by_key``'s
    (bind parameter ``key``: a number, a code)."""
    try:
        ident = uuid.UUID(key)
    except ValueError:
        return await by_key.first(db, key=key)
    return await by_id.first(db, id=ident)


class Load(Generic[M]):
    """``select(model).where(*where)`` with named bind parameters (``sa.bindparam("id")``), read
    with :meth:`first` or :meth:`all`. Build it once, at import: its SQL is worked out at its first
    use and kept."""

    def __init__(self, model: type[M], *where: sa.ColumnElement[bool] | bool) -> None:
        self.model = model
        self.statement = select(model).where(*where)
        self._plan: _Plan | None = None
        self._mapper: Any = sa.inspect(model)

    async def first(self, db: Database, **params: Any) -> M | None:
        """The first row's instance, or ``None``."""
        found = await self._read(db, params, one=True)
        return found[0] if found else None

    async def all(self, db: Database, **params: Any) -> list[M]:
        return await self._read(db, params, one=False)

    def _compiled(self, dialect: Any) -> _Plan:
        compiled = self.statement.compile(dialect=dialect)
        names = tuple(compiled.positiontup or ())
        binds = compiled.binds
        if any(b.expanding for b in binds.values()):
            raise ValueError("a Load's statement is constant: no expanding (IN) parameters")
        keys = []
        for _keyname, _name, objects, _type in compiled._result_columns:
            column = next(o for o in objects if isinstance(o, sa.Column))
            keys.append(self._mapper.get_property_by_column(column).key)
        return _Plan(
            sql=compiled.string,
            names=names,
            binds=tuple(binds[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names),
            fixed={n: binds[n].effective_value for n in names if not binds[n].required},
            keys=tuple(keys),
            results=None,
        )

    def _result_processors(self, dialect: Any, plan: _Plan, oids: Sequence[int]) -> _Plan:
        """SQLAlchemy's result processing per column, as it works it out from the cursor's
        description (a numeric column's processor depends on the type the server sends)."""
        compiled = self.statement.compile(dialect=dialect)
        results = tuple(
            type_.dialect_impl(dialect).result_processor(dialect, oid)
            for (_k, _n, _o, type_), oid in zip(compiled._result_columns, oids, strict=True)
        )
        return _Plan(plan.sql, plan.names, plan.binds, plan.fixed, plan.keys, results)

    async def _read(self, db: Database, params: dict[str, Any], *, one: bool) -> list[M]:
        engine = db.engine
        dialect = engine.dialect
        sync = engine.sync_engine
        if (
            dialect.driver != "asyncpg"
            or sync.dispatch.before_cursor_execute
            or sync.dispatch.after_cursor_execute
        ):
            async with db.read() as session:
                result = (await session.execute(self.statement, params)).scalars()
                first = result.first() if one else None
                return ([first] if first is not None else []) if one else list(result.all())
        plan = self._plan
        if plan is None:
            plan = self._plan = self._compiled(dialect)
        values = {**plan.fixed, **params} if plan.fixed else params
        args = [
            value if proc is None else proc(value)
            for proc, value in zip(plan.binds, (values[n] for n in plan.names), strict=True)
        ]
        raw = await engine.raw_connection()  # the pool's checkout (and its idle ping) as for a session
        try:
            adapted: Any = raw.dbapi_connection
            driver = adapted._connection
            try:
                async with adapted._execute_mutex:
                    if plan.results is None:
                        prepared = await driver.prepare(plan.sql)
                        plan = self._plan = self._result_processors(
                            dialect, plan, [a.type.oid for a in prepared.get_attributes()]
                        )
                    if one:
                        row = await driver.fetchrow(plan.sql, *args)
                        rows = [] if row is None else [row]
                    else:
                        rows = await driver.fetch(plan.sql, *args)
            except Exception as error:
                raise await translated(dialect, adapted, plan.sql, args, error, raw.invalidate) from error
        finally:
            raw.close()  # no transaction was begun: nothing to roll back, no round trip
        return [self._instance(plan, row) for row in rows]

    def _instance(self, plan: _Plan, row: Any) -> M:
        results = plan.results or ()
        obj: Any = self._mapper.class_manager.new_instance()  # __new__ + instance state, as a load does
        obj.__dict__.update(
            zip(
                plan.keys,
                (v if proc is None else proc(v) for proc, v in zip(results, row, strict=True)),
                strict=True,
            )
        )
        make_transient_to_detached(obj)  # an identity key, every column loaded and committed
        return obj  # type: ignore[no-any-return]
