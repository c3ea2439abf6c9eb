"""The kit's pull loop (``steward.kit.pulls``) on its own: what an empty long poll is, and how the
events of one fetch are settled. Narrow unit tests with stand-ins for nats-py's subscription and
messages; the loop against a real JetStream is in test_bus.py, test_batches.py and test_transient.py."""

from __future__ import annotations

import asyncio
from typing import Any

import nats.errors
import pytest

from steward.events.envelope import CloudEvent
from steward.kit.bus import EventBus
from steward.kit.outbox import build_event
from steward.kit.pulls import MessageSubscription
from steward.kit.settings import ServiceSettings


class _Fetching:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    async def fetch(self, batch: int, timeout: float) -> list[Any]:  # noqa: ASYNC109 (nats-py's signature)
        raise self.error


@pytest.mark.parametrize("error", [TimeoutError(), nats.errors.TimeoutError()])
async def test_an_empty_long_poll_is_nothing_yet_whichever_timeout_ends_it(error: BaseException) -> None:
    """nats-py ends a fetch that found nothing with its own TimeoutError, or with a bare asyncio one
    when the deadline runs out between its no-wait probe and its waiting request."""
    bus = EventBus(ServiceSettings(service_name="kit-poll"))

    async def handler(event: CloudEvent) -> None:
        raise AssertionError("nothing was fetched")

    sub = MessageSubscription(bus, handler=handler, consumer="c", config=None, fetch_batch=8)  # type: ignore[arg-type]
    sub._sub = _Fetching(error)
    assert await sub._fetch() == []
    sub._sub = _Fetching(nats.errors.ConnectionClosedError())
    with pytest.raises(nats.errors.ConnectionClosedError):
        await sub._fetch()


class _Msg:
    """A delivered message whose ack may fail (the connection lost between fetch and ack)."""

    def __init__(self, event: CloudEvent, *, ack_fails: bool = False) -> None:
        self.subject = f"steward.events.{event.tenant}.kit.pinged"
        self.data = event.model_dump_json().encode()
        self.headers: dict[str, str] = {}
        self.metadata = None
        self.ack_fails = ack_fails
        self.acked = False

    async def ack(self) -> None:
        if self.ack_fails:
            raise nats.errors.ConnectionClosedError
        self.acked = True

    async def nak(self, delay: float | None = None) -> None:  # pragma: no cover - not reached
        raise AssertionError("no handler failed")


async def test_every_event_of_a_fetch_is_settled_before_its_failure_is_raised(kit: Any) -> None:
    bus = EventBus(ServiceSettings(service_name="kit-settle"))
    finished: list[int] = []

    async def handler(event: CloudEvent) -> None:
        await asyncio.sleep(0.05 * event.data["n"])
        finished.append(event.data["n"])

    sub = MessageSubscription(bus, handler=handler, consumer="c", config=None, fetch_batch=8)  # type: ignore[arg-type]
    events = [build_event(kit.Pinged(n=n), tenant="t1", source="kit-test") for n in range(4)]
    msgs = [_Msg(e, ack_fails=(i == 0)) for i, e in enumerate(events)]
    with pytest.raises(nats.errors.ConnectionClosedError):
        await sub.handle(msgs)  # type: ignore[arg-type]
    assert sorted(finished) == [0, 1, 2, 3]
    assert [m.acked for m in msgs] == [False, True, True, True]
