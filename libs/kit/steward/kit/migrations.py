"""Alembic helpers: every service keeps one migration history in ``services/<svc>/migrations``.

A service's ``migrations/env.py`` calls :func:`run_env`; ``python -m steward.<svc> migrate`` calls
:func:`upgrade`. Concurrent migrators (several replicas, a Helm hook) serialise on an advisory lock.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from steward.kit.db import engine_url

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported where it is used: a service's ``__main__`` imports this module for its
# ``migrate`` command, and ``serve`` would otherwise carry Alembic and Mako (about 7 MiB resident,
# 0.4 s of start) for the process's whole life.

_LOCK_ID = 0x5733A2D


def alembic_config(script_location: Path, url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(script_location: Path, url: str, revision: str = "head") -> None:
    cfg = alembic_config(script_location, url)
    if revision == "head" and _at_head(cfg, url):
        return  # nothing to do: no env.py, so the service's models are not even imported (a warm start)
    from alembic import command

    command.upgrade(cfg, revision)


def at_head(script_location: Path, url: str) -> bool:
    """Whether the database at ``url`` stands at every head of the migration scripts in
    ``script_location`` (False for a database without a version table). Alembic's script directory
    is read, its migration environment is not run: no service model is imported."""
    return _at_head(alembic_config(script_location, url), url)


def _at_head(cfg: Config, url: str) -> bool:
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(cfg).get_heads())

    async def current() -> set[str] | None:
        engine = create_async_engine(engine_url(url))
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
                return {str(r[0]) for r in rows}
        except sa.exc.DBAPIError:
            return None  # no version table yet: a new database
        finally:
            await engine.dispose()

    return asyncio.run(current()) == heads


def run_env(target_metadata: sa.MetaData) -> None:
    """Body of a service's ``migrations/env.py`` (online, async engine, advisory lock)."""
    from alembic import context

    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is not set"

    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return

    def _run(connection: Connection) -> None:
        connection.execute(sa.text("SELECT pg_advisory_lock(:id)"), {"id": _LOCK_ID})
        try:
            context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
            with context.begin_transaction():
                context.run_migrations()
        finally:
            connection.execute(sa.text("SELECT pg_advisory_unlock(:id)"), {"id": _LOCK_ID})

    async def _main() -> None:
        engine = create_async_engine(engine_url(url))
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
        await engine.dispose()

    asyncio.run(_main())
