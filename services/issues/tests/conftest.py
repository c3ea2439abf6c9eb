"""Fixtures: one real registry and one issues replica per test session (own databases, own NATS)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from steward.devtools.natsinfra import LocalNats
from steward.issues.testing import Issues, migrate, running_issues
from steward.kit.clock import Clock
from steward.registry.testing import EventTap, Registry, Tree, make_tree, running_registry
from steward.registry.testing import migrate as migrate_registry


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    """A NATS server of this suite's own: its durable consumers read the stream from its start, and
    on the session's shared NATS they would first work through every earlier suite's events."""
    with LocalNats() as nats:
        yield nats.url


@pytest.fixture(scope="session")
def registry_db_url(make_database: Any) -> str:
    return migrate_registry(make_database("issues_registry"))


@pytest.fixture(scope="session")
async def registry(registry_db_url: str, nats_url: str) -> AsyncIterator[Registry]:
    async with running_registry(registry_db_url, nats_url) as reg:
        yield reg


@pytest.fixture(scope="session")
def issues_db_url(make_database: Any) -> str:
    return migrate(make_database("issues"))


@pytest.fixture(scope="session")
async def issues(issues_db_url: str, nats_url: str, registry: Registry) -> AsyncIterator[Issues]:
    async with running_issues(issues_db_url, nats_url, registry.grpc_target) as svc:
        yield svc


@pytest.fixture
def clock(issues: Issues) -> Clock:
    issues.clock.reset()
    return issues.clock


@pytest.fixture
async def tree(registry: Registry) -> Tree:
    return await make_tree(registry)


@pytest.fixture
def tap(nats_url: str) -> EventTap:
    return EventTap(nats_url)
