"""Fixtures: one real registry and one scoring replica per test session (own databases, own NATS).
The tenant tree carries the Anyang agent scorecard and survey, a unit scorecard and rankings.

Scoring consumes every event of the platform from the start of the stream: on the session's shared
NATS it would first read through the events every earlier suite published (thousands, each
looked up) before the ones its tests wait for. A NATS server of its own keeps its tests about
scoring, not about the size of the backlog."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from steward.devtools.natsinfra import LocalNats
from steward.kit.clock import Clock
from steward.registry.testing import Registry, Tree, make_tree, running_registry
from steward.registry.testing import migrate as migrate_registry
from steward.scoring.testing import Scoring, migrate, running_scoring

from .helpers import RULES


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    """Overrides the session's shared NATS for the scoring suite (see the module docstring)."""
    with LocalNats() as nats:
        yield nats.url


@pytest.fixture(scope="session")
def registry_db_url(make_database: Any) -> str:
    return migrate_registry(make_database("scoring_registry"))


@pytest.fixture(scope="session")
async def registry(registry_db_url: str, nats_url: str) -> AsyncIterator[Registry]:
    async with running_registry(registry_db_url, nats_url) as reg:
        yield reg


@pytest.fixture(scope="session")
def scoring_db_url(make_database: Any) -> str:
    return migrate(make_database("scoring"))


@pytest.fixture(scope="session")
async def scoring(scoring_db_url: str, nats_url: str, registry: Registry) -> AsyncIterator[Scoring]:
    async with running_scoring(scoring_db_url, nats_url, registry.grpc_target) as svc:
        yield svc


@pytest.fixture
def clock(scoring: Scoring) -> Clock:
    scoring.clock.reset()
    return scoring.clock  # type: ignore[return-value]


@pytest.fixture
async def tree(registry: Registry) -> Tree:
    """A fresh city whose rules (inherited by every district) hold the scoring presets."""
    return await make_tree(registry, rules={"city": RULES})
