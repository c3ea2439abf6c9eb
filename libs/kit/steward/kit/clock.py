"""A service's notion of "now" (``runtime.clock``): deadlines, timers and history use it.

Production uses the wall clock. Tests inject a :class:`Clock` they move by hand (filing time,
deadlines passing); in dev mode only, the platform clock (``steward dev clock``) shifts it for every
service. Nothing outside dev mode can move it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

from steward.kit.db import utcnow


class Clock:
    """Wall clock, optionally pinned or shifted (tests only: set through code, never through an API)."""

    def __init__(self) -> None:
        self._fixed: datetime | None = None
        self._offset = timedelta(0)
        self._watchers: list[Callable[[], None]] = []

    def watch(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` whenever the clock is moved (a timer worker backing off while idle
        sweeps at once); returns the function that stops watching."""
        self._watchers.append(callback)

        def unwatch() -> None:
            with contextlib.suppress(ValueError):
                self._watchers.remove(callback)

        return unwatch

    def _moved(self) -> None:
        for callback in list(self._watchers):
            callback()

    def __call__(self) -> datetime:
        if self._fixed is not None:
            return self._fixed
        return utcnow() + self._offset

    def set(self, value: datetime) -> None:
        if value.tzinfo is None:
            raise ValueError("the clock needs a tz-aware datetime")
        self._fixed = value
        self._moved()

    def advance(self, delta: timedelta) -> None:
        if self._fixed is not None:
            self._fixed += delta
        else:
            self._offset += delta
        self._moved()

    @property
    def pinned(self) -> bool:
        """Set to a fixed time (a test or a benchmark owns it: the dev platform clock leaves it be)."""
        return self._fixed is not None

    @property
    def offset(self) -> timedelta:
        return self._offset

    def set_offset(self, offset: timedelta) -> None:
        """Run ``offset`` ahead of the wall clock (the dev platform clock)."""
        self._fixed = None
        self._offset = offset
        self._moved()

    def reset(self) -> None:
        self._fixed = None
        self._offset = timedelta(0)
        self._moved()
