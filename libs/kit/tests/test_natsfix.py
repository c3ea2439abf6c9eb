"""An empty pull fetch surfaces as nats' own TimeoutError, which FastStream's pull loop expects
(a bare asyncio.TimeoutError made it log an ERROR traceback and restart the consumer)."""

from __future__ import annotations

import asyncio

import nats.errors
import pytest
from nats.js import JetStreamContext

from steward.kit import bus, natsfix  # noqa: F401  (importing the bus applies the fix)


async def test_bare_timeout_becomes_nats_timeout() -> None:
    async def fetch(batch: int, expires: float) -> list[object]:
        raise TimeoutError  # what nats-py raises when the deadline runs out mid-fetch

    with pytest.raises(nats.errors.TimeoutError) as caught:
        await natsfix.as_nats_timeout(fetch)(32, expires=1.0)
    assert isinstance(caught.value, asyncio.TimeoutError)  # old callers still catch it


async def test_results_and_other_errors_pass_through() -> None:
    async def ok() -> list[int]:
        return [1]

    async def closed() -> list[int]:
        raise nats.errors.ConnectionClosedError

    assert await natsfix.as_nats_timeout(ok)() == [1]
    with pytest.raises(nats.errors.ConnectionClosedError):
        await natsfix.as_nats_timeout(closed)()


def test_pull_fetch_is_wrapped_once() -> None:
    fetch = JetStreamContext.PullSubscription.fetch
    assert getattr(fetch, "_steward_timeout_fix", False)
    natsfix.apply()
    assert JetStreamContext.PullSubscription.fetch is fetch
