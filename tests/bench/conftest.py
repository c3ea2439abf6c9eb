"""The benchmarks' smoke runs get a NATS server of their own: the notify and scoring benches consume
every event of the stream from its start, and on the session's shared NATS they would first read
through what every earlier suite published."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from steward.devtools.natsinfra import LocalNats


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    with LocalNats() as nats:
        yield nats.url
