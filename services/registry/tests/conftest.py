"""Fixtures: one real registry per test session on the suite's own PostgreSQL and NATS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from steward.registry.testing import EventTap, Registry, Tree, make_tree, migrate, running_registry


@pytest.fixture(scope="session")
def registry_db_url(make_database: Any) -> str:
    return migrate(make_database("registry"))


@pytest.fixture(scope="session")
async def registry(registry_db_url: str, nats_url: str) -> AsyncIterator[Registry]:
    async with running_registry(registry_db_url, nats_url) as reg:
        yield reg


@pytest.fixture
async def tree(registry: Registry) -> Tree:
    return await make_tree(registry)


@pytest.fixture
def tap(nats_url: str) -> EventTap:
    return EventTap(nats_url)
