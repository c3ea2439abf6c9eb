"""Official data from ``chinese_calendar`` and the fallback observability hook."""

from __future__ import annotations

import logging
import threading
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

import chinese_calendar
from prometheus_client import REGISTRY, Counter

from steward.kit.calendar._types import DayInfo, DayKind

try:  # structlog is a kit dependency; the stdlib is only a safety net.
    import structlog

    _log: Any = structlog.get_logger("steward.kit.calendar")
except ImportError:  # pragma: no cover
    _log = logging.getLogger("steward.kit.calendar")


def _probe_official_years() -> frozenset[int]:
    """The years ``chinese_calendar`` has data for. It raises NotImplementedError for other years."""
    known: set[int] = set()
    for year in range(1949, date.today().year + 30):
        try:
            chinese_calendar.is_workday(date(year, 6, 1))
        except NotImplementedError:
            continue
        known.add(year)
    return frozenset(known)


OFFICIAL_YEARS: frozenset[int] = _probe_official_years()

_CHINESE_NAMES: dict[str, str] = {h.value: h.chinese for h in chinese_calendar.Holiday}


def _official_name(name: str | None) -> str | None:
    return None if name is None else _CHINESE_NAMES.get(name, name)


def _days_of_year(year: int) -> list[date]:
    first = date(year, 1, 1)
    count = (date(year + 1, 1, 1) - first).days if year < 9999 else 365
    return [first + timedelta(days=i) for i in range(count)]


@lru_cache(maxsize=256)
def _base_year(year: int) -> tuple[DayInfo, ...]:
    """Each day of ``year`` without tenant overrides: official data, else the Mon–Fri fallback."""
    out: list[DayInfo] = []
    official = year in OFFICIAL_YEARS
    for d in _days_of_year(year):
        weekend = d.weekday() >= 5
        if not official:
            kind: DayKind = "weekend" if weekend else "workday"
            out.append(DayInfo(d, not weekend, kind, None, "fallback"))
            continue
        off, raw_name = chinese_calendar.get_holiday_detail(d)
        name = _official_name(raw_name)
        if not off:
            kind = "makeup_workday" if weekend else "workday"
        else:
            kind = "holiday" if name is not None else "weekend"
        out.append(DayInfo(d, not off, kind, name, "official"))
    return tuple(out)


_FALLBACK_METRIC = "steward_calendar_fallback_total"


def _fallback_counter() -> Counter:
    try:
        return Counter(
            _FALLBACK_METRIC,
            "Working-day computations that used the Mon-Fri fallback for a year without official data",
            ["year"],
        )
    except ValueError:  # already registered (module imported twice)
        return REGISTRY._names_to_collectors[_FALLBACK_METRIC]  # type: ignore[return-value]


FALLBACK_COUNTER = _fallback_counter()
_fallback_lock = threading.Lock()
_fallback_seen: set[int] = set()


def _note_fallback(year: int) -> None:
    FALLBACK_COUNTER.labels(year=str(year)).inc()
    if year in _fallback_seen:
        return
    with _fallback_lock:
        if year in _fallback_seen:
            return
        _fallback_seen.add(year)
    if isinstance(_log, logging.Logger):  # pragma: no cover - only without structlog
        _log.warning("calendar year %s not covered by official data; using Mon-Fri and overrides", year)
    else:
        _log.warning(
            "calendar_year_not_covered",
            year=year,
            detail="no official holiday data; using Mon-Fri plus tenant overrides",
        )


def fallback_years_seen() -> set[int]:
    """Years for which some computation fell back to Mon–Fri (for readiness details)."""
    with _fallback_lock:
        return set(_fallback_seen)
