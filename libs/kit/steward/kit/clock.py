"""A service's notion of "now" (``runtime.clock``): deadlines, timers and history use it.

Production uses the wall clock. Tests inject a :class:`Clock` they move by hand (filing time,
deadlines passing); in dev mode only, the platform clock (``steward dev clock``) shifts it for every
service. Nothing outside dev mode can move it."""

from __future__ import annotations

from datetime import datetime, timedelta

from steward.kit.db import utcnow


class Clock:
    """Wall clock, optionally pinned or shifted (tests only: set through code, never through an API)."""

    def __init__(self) -> None:
        self._fixed: datetime | None = None
        self._offset = timedelta(0)

    def __call__(self) -> datetime:
        if self._fixed is not None:
            return self._fixed
        return utcnow() + self._offset

    def set(self, value: datetime) -> None:
        if value.tzinfo is None:
            raise ValueError("the clock needs a tz-aware datetime")
        self._fixed = value

    def advance(self, delta: timedelta) -> None:
        if self._fixed is not None:
            self._fixed += delta
        else:
            self._offset += delta

    @property
    def offset(self) -> timedelta:
        return self._offset

    def set_offset(self, offset: timedelta) -> None:
        """Run ``offset`` ahead of the wall clock (the dev platform clock)."""
        self._fixed = None
        self._offset = offset

    def reset(self) -> None:
        self._fixed = None
        self._offset = timedelta(0)
