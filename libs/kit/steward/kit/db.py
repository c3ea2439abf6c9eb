"""Async database access: SQLModel on asyncpg, one engine per process, explicit transactions.

Service functions receive a session and never commit; views, servicers and subscribers own the
transaction through :meth:`Database.transaction`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.ids import new_id

JSONB = postgresql.JSONB(none_as_null=True)


def utcnow() -> datetime:
    return datetime.now(UTC)


def tz_column(*, nullable: bool = False, index: bool = False, default_now: bool = False) -> Any:
    """A timezone-aware timestamp column (``timestamptz``)."""
    kwargs: dict[str, Any] = {"nullable": nullable, "index": index}
    if default_now:
        kwargs["server_default"] = sa.func.now()
    return sa.Column(sa.DateTime(timezone=True), **kwargs)


def uuid_pk() -> Any:
    return sa.Column(sa.Uuid, primary_key=True, default=new_id)


class Database:
    """Owns the engine and hands out transactional sessions."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            echo=echo,
        )
        self.sessionmaker = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on any exception."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; rolled back at the end so nothing can be written by accident."""
        async with self.sessionmaker() as session:
            try:
                yield session
            finally:
                # detach what was loaded so it stays readable after the rollback (no lazy reloads)
                session.expunge_all()
                await session.rollback()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def asyncpg_dsn(url: str) -> str:
    """The plain ``postgresql://`` DSN asyncpg wants, from a SQLAlchemy URL."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


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
