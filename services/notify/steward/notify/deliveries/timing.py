"""When a delivery may go out: quiet hours (deferred to the morning unless critical), digests,
exponential backoff with jitter."""

from __future__ import annotations

import random
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
