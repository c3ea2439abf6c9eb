"""An idle delivery worker backs off its poll (issue 15, idle is idle) but never past half the
smallest retry backoff, and polls at the base rate again as soon as there is work."""

from __future__ import annotations

from typing import Any

from steward.notify.deliveries.worker import DeliveryWorker
from steward.notify.settings import NotifySettings


def worker(**extra: Any) -> DeliveryWorker:
    settings = NotifySettings(delivery_poll_seconds=0.5, delivery_idle_poll_seconds=5.0, **extra)
    w = DeliveryWorker(None, settings, None)  # type: ignore[arg-type]
    w._listener = object()  # type: ignore[assignment]  # LISTEN works: fan-outs wake it
    return w


def test_idle_waits_double_up_to_the_cap_and_work_resets_them() -> None:
    w = worker(delivery_backoff_base_seconds=60.0)
    assert [w._next_wait(0) for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert w._next_wait(3) == 0.5  # claimed something
    assert w._next_wait(0) == 0.5 and w._next_wait(0) == 1.0


def test_the_cap_stays_below_half_the_smallest_retry_backoff() -> None:
    w = worker(delivery_backoff_base_seconds=2.0)
    assert max(w._next_wait(0) for _ in range(10)) == 1.0
    tight = worker(delivery_backoff_base_seconds=0.2)  # the test harness' settings: no back-off
    assert {tight._next_wait(0) for _ in range(10)} == {0.5}


def test_without_listen_or_while_woken_it_keeps_the_base_poll() -> None:
    w = worker(delivery_backoff_base_seconds=60.0)
    w._listener = None
    assert {w._next_wait(0) for _ in range(5)} == {0.5}
    w = worker(delivery_backoff_base_seconds=60.0)
    w._next_wait(0)
    w._next_wait(0)
    w.wake()
    assert w._next_wait(0) == 0.5


async def test_nothing_is_claimed_while_accepted_sends_wait_to_be_recorded() -> None:
    """The database was unreachable when sends were accepted: until they are recorded the sweep
    claims nothing — it would take those very rows again once their lease ran out and send them
    twice (seen in the fault suite, PostgreSQL killed)."""
    w = worker()
    w._record_failing = True
    assert await w.sweep() == 0  # no database call at all (the worker has none here)
