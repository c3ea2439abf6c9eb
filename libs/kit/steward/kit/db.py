"""Async database access: SQLModel on asyncpg, one engine per process, explicit transactions.

Service functions receive a session and never commit; views, servicers and subscribers own the
transaction through :meth:`Database.transaction`.
"""

from __future__ import annotations

import asyncio
import copy
import decimal
import enum
import functools
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.util import greenlet_spawn
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.driven import SEALED, fast_path
from steward.kit.errors import DomainError
from steward.kit.ids import new_id
from steward.kit.pooled import lone_session
from steward.kit.readonly import IN_TRANSACTION, READ_ONLY
from steward.kit.straight import ensure_unsealed

JSONB = postgresql.JSONB(none_as_null=True)
T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


M = TypeVar("M")


_DEFAULTS: dict[type, dict[str, tuple[Any, Callable[[], Any] | None]]] = {}


def _defaults(model: type) -> dict[str, tuple[Any, Callable[[], Any] | None]]:
    """Each field's (default, default factory), read from pydantic once per model."""
    found = _DEFAULTS.get(model)
    if found is None:
        found = {}
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            value = None if field.is_required() else field.default
            factory = field.default_factory
            if factory is None and not isinstance(value, _IMMUTABLE):  # a copy each, as pydantic does
                factory = functools.partial(copy.deepcopy, value)
            found[name] = (value, factory)  # type: ignore[assignment]  # factories here take no argument
        _DEFAULTS[model] = found
    return found


_IMMUTABLE = (
    str,
    bytes,
    int,
    float,
    bool,
    type(None),
    decimal.Decimal,
    datetime,
    uuid.UUID,
    enum.Enum,
    tuple,
    frozenset,
)


def construct(model: type[M], **values: Any) -> M:
    """A new table-model instance built as SQLAlchemy builds one it loads: the values, and every
    other field's default, go straight into the instance's ``__dict__``. SQLModel's constructor sets
    each field through SQLAlchemy's attribute instrumentation (events, history): 130 µs for a
    matter's 50 columns, against 17 µs here, on every filing. Nothing is validated or converted —
    a table model's constructor does not validate either. The instance is transient, like a
    constructed one: ``session.add`` or ``writes.add`` it, and later changes are tracked as usual."""
    defaults = _defaults(model)
    unknown = values.keys() - defaults.keys()
    if unknown:
        raise TypeError(f"{model.__name__} has no field(s) {sorted(unknown)}")
    obj = model._sa_class_manager.new_instance()  # type: ignore[attr-defined]  # __new__ + instance state
    for name, (value, factory) in defaults.items():
        if name not in values:
            values[name] = factory() if factory is not None else value
    obj.__dict__.update(values)
    object.__setattr__(obj, "__pydantic_fields_set__", set(values))
    return obj  # type: ignore[no-any-return]


def tz_column(*, nullable: bool = False, index: bool = False, default_now: bool = False) -> Any:
    """A timezone-aware timestamp column (``timestamptz``)."""
    kwargs: dict[str, Any] = {"nullable": nullable, "index": index}
    if default_now:
        kwargs["server_default"] = sa.func.now()
    return sa.Column(sa.DateTime(timezone=True), **kwargs)


def uuid_pk() -> Any:
    return sa.Column(sa.Uuid, primary_key=True, default=new_id)


TRANSACTION_ENDS = "steward_transaction_ends"  # session.info: run once the transaction has ended


class Database:
    """Owns the engine and hands out transactional sessions."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False, trace_sql: bool = False) -> None:
        self.url = url
        # No ping on every checkout (a round trip per transaction on the hot path, issue 15): only a
        # connection that sat idle in the pool is pinged; one that died while busy fails its statement,
        # the pool is invalidated (fresh connections next) and the request answers 503 (transient).
        # Up to 2 × pool_size connections, each opened when first needed and then kept: a pool
        # keeping pool_size and opening as many again for a peak closed those on their return
        # while it was full, so a load whose concurrency moved around pool_size (the HTTP gate's
        # limit adapting under overload, a consumer's batches) opened and closed connections all
        # the time, 2.8 ms of this process's CPU and 3.9 ms of PostgreSQL's each (issue 15).
        self.engine: AsyncEngine = create_async_engine(
            engine_url(url),
            pool_size=2 * pool_size,
            max_overflow=0,
            pool_pre_ping=False,
            echo=echo,
        )
        # lone sessions take their connections in arrival order (kit.pooled.lone_session)
        self._lone_turns = asyncio.Semaphore(2 * pool_size)
        pool = self.engine.sync_engine.pool
        sa.event.listen(pool, "checkin", _mark_checkin)
        sa.event.listen(pool, "checkout", _ping_if_idle)
        if trace_sql:  # a client span per statement, child of the request's or consumer's span
            from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

            # the instrumentation declares sqlalchemy < 2.1; the core events it hooks are unchanged in 2.1
            SQLAlchemyInstrumentor().instrument(
                engine=self.engine.sync_engine, enable_commenter=False, skip_dep_check=True
            )
        self.sessionmaker = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        # read sessions: the same pool, each connection in AUTOCOMMIT while a read holds it (taken at
        # its first statement; the pool restores the isolation level when it comes back)
        self._read_sessions = async_sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"),
            class_=AsyncSession,
            expire_on_commit=False,
            autoflush=False,  # a change made for display is never sent (see steward.kit.readonly)
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on any exception.
        Once it has ended, what was queued in ``session.info[TRANSACTION_ENDS]`` runs (a
        :class:`~steward.kit.keyqueue.KeyQueue` lets the next transaction in line go on)."""
        async with self.sessionmaker() as session:
            ends: list[Callable[[], None]] = []
            session.info[TRANSACTION_ENDS] = ends
            try:
                # ``session.begin()`` without the greenlet AsyncSession would run it in: beginning
                # sends nothing (the connection is taken at the first statement)
                session.sync_session.begin()
                try:
                    yield session
                    if session.info.get(SEALED):  # its last statement committed on its own
                        ensure_unsealed(session)
                except BaseException:
                    await session.rollback()
                    raise
                await session.commit()
            finally:
                for end in reversed(ends):
                    end()

    @asynccontextmanager
    async def lone(self) -> AsyncIterator[AsyncSession]:
        """A session for a transaction that is one statement sent alone, reads without BEGIN before
        it (``kit.pooled.lone_session``): no SQLAlchemy transaction around it. While statement
        hooks listen (tests counting statements, SQL tracing) a :meth:`transaction` instead."""
        if not fast_path(self.engine.sync_engine):
            async with self.transaction() as session:
                yield session
            return
        async with lone_session(self.engine, self.sessionmaker, self._lone_turns) as session:
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads, outside any transaction: each statement on its own, one round trip
        (no BEGIN and ROLLBACK around it; under READ COMMITTED it reads the same). Nothing can be
        written through it: a write raises ``WriteInReadSession`` before it is sent
        (:mod:`steward.kit.readonly`). A read that needs ``SET LOCAL`` uses
        ``steward.kit.straight.set_local``, which begins a transaction (rolled back at the end)."""
        session = self._read_sessions()
        session.info[READ_ONLY] = True
        try:
            yield session
        finally:
            # one greenlet: close() detaches what was loaded first (it stays readable after the
            # session, no lazy reloads), then ends what set_local began and returns the connection.
            # AsyncSession's own exit adds a task and a shield to a rollback's greenlet and its own
            closing = greenlet_spawn(session.sync_session.close)
            if session.info.get(READ_ONLY) == IN_TRANSACTION:
                await asyncio.shield(closing)  # a ROLLBACK to send: finish it even if cancelled
            else:
                await closing  # nothing to send: runs to its end without a wait

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


# a pooled connection idle longer than this is pinged before use (PostgreSQL or a proxy may have
# closed it meanwhile); one used again sooner is trusted
IDLE_PING_SECONDS = 10.0
_CHECKIN = "steward_checkin"


def _mark_checkin(dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info[_CHECKIN] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    since = record.info.get(_CHECKIN)
    if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
        return  # new, or back in the pool a moment ago
    try:
        dbapi_connection.ping()
    except Exception as exc:
        # the pool discards this connection and checks out another (a new one if need be)
        raise sa_exc.DisconnectionError(f"idle pooled connection is dead: {exc}") from exc


def asyncpg_dsn(url: str) -> str:
    """The plain ``postgresql://`` DSN asyncpg wants, from a SQLAlchemy URL (a multi-host URL stays
    in the libpq form asyncpg reads itself)."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


DEFAULT_PORT = 5432


def engine_url(url: str) -> str:
    """The URL for SQLAlchemy's engine. Settings name several servers the libpq way
    (``postgresql+asyncpg://user@h1:5432,h2:5432/db?target_session_attrs=read-write``: connect to the
    first that answers and is writable), which SQLAlchemy's URL parser cannot read; its asyncpg
    dialect wants them as ``host=`` query arguments, each with its port
    (``postgresql+asyncpg://user@/db?host=h1:5432&host=h2:5432&target_session_attrs=read-write``).
    A single-host URL is returned unchanged."""
    parts = urlsplit(url)
    userinfo, at, hostlist = parts.netloc.rpartition("@")
    if "," not in hostlist:
        return url
    hosts = [h.strip() for h in hostlist.split(",") if h.strip()]
    if any(h.startswith("[") for h in hosts):
        raise ValueError("IPv6 literals are not supported in a multi-host database URL; use names")
    query = urlencode([("host", h if ":" in h else f"{h}:{DEFAULT_PORT}") for h in hosts], safe=":")
    if parts.query:
        query += "&" + parts.query
    return urlunsplit((parts.scheme, userinfo + at, parts.path, query, parts.fragment))


# SQLSTATEs after which the transaction was rolled back and the same work can be tried again
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})  # serialization, deadlock, lock not available


def sqlstate(exc: BaseException) -> str:
    """The PostgreSQL SQLSTATE behind a SQLAlchemy error ("" when there is none)."""
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None)
    return str(code or "")


def is_retryable_conflict(exc: BaseException) -> bool:
    """Whether a database error means "lost a race": nothing was written, try again."""
    return sqlstate(exc) in RETRYABLE_SQLSTATES


def is_invalid_data(exc: BaseException) -> bool:
    """SQLSTATE class 22 (data exception: a NUL character in text, a number out of range …): the
    caller's input, which the database refused; nothing was written."""
    return sqlstate(exc).startswith("22")


async def retry_conflicts(work: Callable[[], Awaitable[T]], *, attempts: int = 5, pause: float = 0.2) -> T:
    """Run ``work`` (which opens its own transactions) again when it lost a database race (deadlock,
    serialization failure, lock timeout): nothing of the failed attempt was written — or when a
    service it calls was unavailable for the moment (a 503 error: the registry busy past a call's
    deadline while the platform starts). For batch jobs such as demo seeds that run beside live
    services; ``work`` must be idempotent."""
    for attempt in range(1, attempts + 1):
        try:
            return await work()
        except DBAPIError as exc:
            if attempt == attempts or not is_retryable_conflict(exc):
                raise
        except DomainError as exc:
            if attempt == attempts or exc.status_code != 503:
                raise
        await asyncio.sleep(pause * attempt)
    raise AssertionError("unreachable")  # pragma: no cover
