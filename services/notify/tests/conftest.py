"""Fixtures: a real registry and a real notify (in-process, loopback ports) on the suite's own
PostgreSQL and NATS, a real SMTP server and a loopback HTTP receiver for the session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from steward.devtools.natsinfra import LocalNats
from steward.notify.testing import (
    HttpSink,
    Notify,
    SmtpSink,
    http_sink,
    migrate,
    notify_settings,
    running_notify,
)
from steward.registry.testing import Registry, running_registry
from steward.registry.testing import migrate as migrate_registry


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    """A NATS server of this suite's own: its durable consumers read the stream from its start, and
    on the session's shared NATS they would first work through every earlier suite's events."""
    with LocalNats() as nats:
        yield nats.url


@pytest.fixture(scope="session")
def registry_db_url(make_database: Any) -> str:
    return migrate_registry(make_database("registry"))


@pytest.fixture(scope="session")
async def registry(registry_db_url: str, nats_url: str) -> AsyncIterator[Registry]:
    async with running_registry(registry_db_url, nats_url) as reg:
        yield reg


@pytest.fixture(scope="session")
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(scope="session")
async def receiver() -> AsyncIterator[HttpSink]:
    async with http_sink() as sink:
        yield sink


@pytest.fixture(scope="session")
def notify_db_url(make_database: Any) -> str:
    return migrate(make_database("notify"))


@pytest.fixture(scope="session")
async def notify(
    notify_db_url: str, nats_url: str, registry: Registry, smtp: SmtpSink, receiver: HttpSink
) -> AsyncIterator[Notify]:
    settings = notify_settings(
        notify_db_url, nats_url, registry.grpc_target, smtp_port=smtp.port, sms_url=f"{receiver.base_url}/sms"
    )
    async with running_notify(settings) as n:
        yield n
