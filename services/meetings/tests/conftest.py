"""Fixtures: one real registry, one issues replica and one meetings replica per test session (own
databases, own NATS). The meetings clock is pinned per test; timers are swept by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from steward.devtools.natsinfra import LocalNats
from steward.issues.testing import Issues, running_issues
from steward.issues.testing import migrate as migrate_issues
from steward.kit.clock import Clock
from steward.meetings.testing import Meetings, migrate, running_meetings
from steward.registry.testing import Registry, Tree, make_tree, running_registry
from steward.registry.testing import migrate as migrate_registry


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    """A NATS server of this suite's own: its durable consumers read the stream from its start, and
    on the session's shared NATS they would first work through every earlier suite's events."""
    with LocalNats() as nats:
        yield nats.url


@pytest.fixture(scope="session")
def registry_db_url(make_database: Any) -> str:
    return migrate_registry(make_database("meetings_registry"))


@pytest.fixture(scope="session")
def issues_db_url(make_database: Any) -> str:
    return migrate_issues(make_database("meetings_issues"))


@pytest.fixture(scope="session")
async def registry(registry_db_url: str, nats_url: str) -> AsyncIterator[Registry]:
    async with running_registry(registry_db_url, nats_url) as reg:
        yield reg


@pytest.fixture(scope="session")
async def issues(issues_db_url: str, nats_url: str, registry: Registry) -> AsyncIterator[Issues]:
    async with running_issues(issues_db_url, nats_url, registry.grpc_target) as svc:
        yield svc


@pytest.fixture(scope="session")
def meetings_db_url(make_database: Any) -> str:
    return migrate(make_database("meetings"))


@pytest.fixture(scope="session")
async def meetings(
    meetings_db_url: str, nats_url: str, registry: Registry, issues: Issues
) -> AsyncIterator[Meetings]:
    async with running_meetings(meetings_db_url, nats_url, registry.grpc_target, issues.grpc_target) as svc:
        yield svc


@pytest.fixture
def clock(meetings: Meetings, issues: Issues) -> Clock:
    meetings.clock.reset()
    issues.clock.reset()
    return meetings.clock


@pytest.fixture
async def tree(registry: Registry) -> Tree:
    return await make_tree(registry)
