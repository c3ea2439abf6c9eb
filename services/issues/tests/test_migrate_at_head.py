"""`python -m steward.<svc> migrate` on a database already at head returns at once, without running
Alembic's environment (which imports every model): a warm `make run` is not held up by it. A new
database and one a revision behind are still migrated."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

from steward.issues.testing import MIGRATIONS
from steward.kit import migrations


def _version(url: str) -> set[str]:
    async def read() -> set[str]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return {r[0] for r in await conn.execute(sa.text("SELECT version_num FROM alembic_version"))}
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_at_head_nothing_runs_and_behind_it_migrates(
    make_database: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_database("issues_at_head")
    migrations.upgrade(MIGRATIONS, url)  # a new database: migrated
    heads = _version(url)
    assert len(heads) == 1

    real_upgrade = command.upgrade
    ran: list[str] = []

    def counting(cfg: Any, revision: str) -> None:
        ran.append(revision)
        real_upgrade(cfg, revision)

    monkeypatch.setattr(command, "upgrade", counting)
    migrations.upgrade(MIGRATIONS, url)
    assert ran == []  # at head: Alembic's command never ran

    command.downgrade(migrations.alembic_config(MIGRATIONS, url), "-1")
    assert _version(url) != heads
    migrations.upgrade(MIGRATIONS, url)
    assert ran == ["head"] and _version(url) == heads
