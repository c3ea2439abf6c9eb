"""pytest plugin: session-wide PostgreSQL + NATS for the whole workspace's tests.

Loaded by ``-p steward.devtools.pytest_plugin`` (root pyproject addopts). Servers start lazily,
only when a test asks for a fixture, and stop at session end. ``STEWARD_DATABASE_URL`` /
``STEWARD_NATS_URL`` make the fixtures use existing servers instead.

Fixtures (all sync, session scoped — usable from async tests):

* ``pg_server`` -> :class:`~steward.devtools.infra.DatabaseServer`
* ``nats_url`` -> ``"nats://127.0.0.1:<port>"``
* ``make_database`` -> ``make_database(prefix: str = "test") -> str``: a new, uniquely named
  database, returned as a ``postgresql+asyncpg://`` URL.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator

import pytest

from steward.devtools.infra import (
    DatabaseServer,
    ExternalPostgres,
    database_server,
    nats_server,
)

__all__ = ["fresh_database_url", "make_database", "nats_url", "pg_server"]


def fresh_database_url(server: DatabaseServer, prefix: str = "test") -> str:
    """Create a new database named ``<prefix>_<random>`` on ``server``; return its URL."""
    clean = re.sub(r"[^a-z0-9_]+", "_", prefix.lower()).strip("_")[:40] or "test"
    return server.create_database(f"{clean}_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[DatabaseServer]:
    """PostgreSQL for the session (a throw-away local server with fsync off, its data in RAM when
    there is room, or STEWARD_DATABASE_URL)."""
    server = database_server(fast_unsafe=True, in_memory=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    """URL of a JetStream-enabled NATS for the session (local, or STEWARD_NATS_URL)."""
    server = nats_server()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def make_database(pg_server: DatabaseServer) -> Iterator[Callable[..., str]]:
    """Factory: ``make_database("registry")`` -> URL of a new isolated database.

    On an external server (STEWARD_DATABASE_URL) the databases are dropped at session end.
    """
    created: list[str] = []

    def make(prefix: str = "test") -> str:
        url = fresh_database_url(pg_server, prefix)
        created.append(url.rsplit("/", 1)[1].split("?", 1)[0])
        return url

    yield make
    if isinstance(pg_server, ExternalPostgres):
        for name in created:
            try:
                pg_server.drop_database(name)
            except Exception as exc:  # best effort, never fail the session here
                print(f"steward: could not drop test database {name}: {exc}")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int | pytest.ExitCode) -> None:
    """'No tests collected' (exit status 5) is a failure, never a silent pass."""
    if int(exitstatus) == int(pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("steward: no tests were collected — treated as a failure", red=True)
