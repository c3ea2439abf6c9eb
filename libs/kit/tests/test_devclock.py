"""The dev platform clock on the kit side: only dev runtimes with a kit Clock follow it; a move sets
the offset, a repeated one changes nothing (a clock a test pinned stays pinned)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from steward.kit import devclock
from steward.kit.clock import Clock


def _runtime(environment: str, clock: Any) -> Any:
    return SimpleNamespace(settings=SimpleNamespace(environment=environment), clock=clock)


def test_only_dev_runtimes_with_a_kit_clock_follow() -> None:
    assert devclock.follows(_runtime("dev", Clock()))
    assert not devclock.follows(_runtime("production", Clock()))
    assert not devclock.follows(_runtime("staging", Clock()))
    assert not devclock.follows(_runtime("dev", lambda: datetime.now(UTC)))


def test_apply_sets_the_offset_once() -> None:
    clock = Clock()
    assert devclock.apply(clock, timedelta(days=3), service="t")
    assert (
        timedelta(days=3) - timedelta(seconds=5) < clock() - datetime.now(UTC) < timedelta(days=3, seconds=5)
    )
    assert not devclock.apply(clock, timedelta(days=3), service="t")

    pinned = Clock()
    at = datetime(2026, 10, 8, tzinfo=UTC)
    pinned.set(at)
    assert not devclock.apply(pinned, timedelta(0), service="t")  # a reset it already matches
    assert pinned() == at


def test_subject_covers_every_tenant() -> None:
    assert devclock.subject("steward.events") == "steward.events.*.platform.clock_changed"


def test_a_pinned_clock_is_never_moved_by_the_platform_clock() -> None:
    pinned = Clock()
    at = datetime(2026, 10, 9, 1, 0, tzinfo=UTC)
    pinned.set(at)
    assert not devclock.apply(pinned, timedelta(days=30), service="bench")
    assert pinned() == at and pinned.pinned
