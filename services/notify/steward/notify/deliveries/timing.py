"""When a delivery may go out: quiet hours (deferred to the morning unless critical), digests,
exponential backoff with jitter, per-channel rate limits."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from steward.rules.notify import DigestSettings, QuietHours

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


def quiet_window(rules: QuietHours, start: time | None, end: time | None) -> QuietHours:
    """The tenant's quiet hours, with a person's own window when they set one."""
    if start is not None and end is not None:
        return rules.model_copy(update={"start": start, "end": end, "enabled": True})
    return rules


def quiet_until(
    rules: QuietHours, *, now: datetime, tz: ZoneInfo, channel: str, severity: str
) -> datetime | None:
    """The end of the quiet window when ``channel`` is held now for ``severity``; else ``None``."""
    local = now.astimezone(tz)
    if not rules.holds(local.time().replace(tzinfo=None), channel, severity):  # type: ignore[arg-type]
        return None
    end = datetime.combine(local.date(), rules.end, tzinfo=tz)
    if end <= local:
        end += timedelta(days=1)
    return end


def digests(rules: DigestSettings, *, channel: str, severity: str) -> bool:
    return (
        rules.enabled
        and channel in rules.channels
        and SEVERITY_RANK[severity] <= SEVERITY_RANK[rules.max_severity]
    )


def next_digest(rules: DigestSettings, *, now: datetime, tz: ZoneInfo) -> datetime:
    local = now.astimezone(tz)
    at = datetime.combine(local.date(), rules.at, tzinfo=tz)
    if at <= local:
        at += timedelta(days=1)
    if rules.frequency == "weekly" and rules.weekday is not None:
        while at.weekday() != rules.weekday:
            at += timedelta(days=1)
    return at


def backoff(attempts: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": half the step fixed, half random."""
    step = min(cap, base * 2 ** max(0, attempts - 1))
    return step / 2 + (rng or random).uniform(0, step / 2)


class RateLimiter:
    """Token buckets per channel (per replica): ``rate`` messages per second, burst of one second."""

    def __init__(self, rates: dict[str, float], clock: Callable[[], float]) -> None:
        self.rates = rates
        self.clock = clock
        self._tokens: dict[str, float] = {}
        self._stamp: dict[str, float] = {}

    def try_acquire(self, channel: str) -> float:
        """0 when a token was taken, else the seconds until one is available."""
        rate = self.rates.get(channel)
        if not rate:
            return 0.0
        now = self.clock()
        tokens = min(
            max(rate, 1.0),
            self._tokens.get(channel, max(rate, 1.0)) + (now - self._stamp.get(channel, now)) * rate,
        )
        self._stamp[channel] = now
        if tokens >= 1.0:
            self._tokens[channel] = tokens - 1.0
            return 0.0
        self._tokens[channel] = tokens
        return (1.0 - tokens) / rate
