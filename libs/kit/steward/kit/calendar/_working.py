"""``WorkingCalendar``: official data plus tenant overrides, with lazily built per-year tables."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from steward.kit.calendar._official import OFFICIAL_YEARS, _base_year, _note_fallback
from steward.kit.calendar._types import CalendarOverrides, Coverage, CoverageKind, DayInfo, DayKind

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True, slots=True)
class _YearTable:
    days: tuple[DayInfo, ...]
    working: tuple[int, ...]  # ordinals of working days, ascending
    fallback: bool  # covered only by the Mon–Fri fallback

    def rank(self, d: date) -> int:
        """Number of working days in the year up to and including ``d``."""
        return bisect.bisect_right(self.working, d.toordinal())


class WorkingCalendar:
    """Immutable working-day calendar: official data plus optional tenant overrides."""

    __slots__ = ("_lock", "_off", "_on", "_override_years", "_overrides", "_tables")

    def __init__(self, overrides: CalendarOverrides | None = None) -> None:
        self._overrides = overrides or CalendarOverrides()
        self._off = {e.date: e.name for e in self._overrides.holidays}
        self._on = {e.date: e.name for e in self._overrides.workdays}
        self._override_years = frozenset(d.year for d in (*self._off, *self._on))
        self._tables: dict[int, _YearTable] = {}
        self._lock = threading.Lock()

    @property
    def overrides(self) -> CalendarOverrides:
        return self._overrides

    def with_overrides(self, overrides: CalendarOverrides) -> WorkingCalendar:
        """A new calendar using ``overrides`` (they replace this calendar's overrides)."""
        return WorkingCalendar(overrides)

    def __repr__(self) -> str:
        return f"WorkingCalendar(holidays={len(self._off)}, workdays={len(self._on)})"

    # ---- tables

    def _table(self, year: int) -> _YearTable:
        table = self._tables.get(year)
        if table is None:
            with self._lock:
                table = self._tables.get(year)
                if table is None:
                    table = self._tables[year] = self._build(year)
        if table.fallback:
            _note_fallback(year)
        return table

    def _build(self, year: int) -> _YearTable:
        days = _base_year(year)
        if year in self._override_years:
            patched = list(days)
            for i, info in enumerate(days):
                if info.date in self._off:
                    weekend = info.date.weekday() >= 5
                    name = self._off[info.date]
                    kind: DayKind = "weekend" if weekend and name is None else "holiday"
                    patched[i] = DayInfo(info.date, False, kind, name, "override")
                elif info.date in self._on:
                    weekend = info.date.weekday() >= 5
                    kind = "makeup_workday" if weekend else "workday"
                    patched[i] = DayInfo(info.date, True, kind, self._on[info.date], "override")
            days = tuple(patched)
        if year in self._overrides.complete_years and year not in OFFICIAL_YEARS:
            days = tuple(
                i if i.source == "override" else DayInfo(i.date, i.working, i.kind, i.name, "override")
                for i in days
            )
        working = tuple(i.date.toordinal() for i in days if i.working)
        return _YearTable(days, working, self.coverage(year).kind is CoverageKind.FALLBACK)

    # ---- coverage

    def coverage(self, year: int) -> Coverage:
        if year in OFFICIAL_YEARS:
            return Coverage(year, CoverageKind.OFFICIAL)
        if year in self._overrides.complete_years:
            return Coverage(year, CoverageKind.OVERRIDES)
        return Coverage(year, CoverageKind.FALLBACK)

    def uncovered_years(self, years: Iterable[int]) -> list[int]:
        """The years in ``years`` that only the Mon–Fri fallback covers, sorted, without duplicates."""
        return sorted({y for y in years if not self.coverage(y).covered})

    # ---- single days

    def day_info(self, d: date) -> DayInfo:
        d = _as_date(d)
        return self._table(d.year).days[d.timetuple().tm_yday - 1]

    def is_working_day(self, d: date) -> bool:
        return self.day_info(d).working

    def next_working_day(self, d: date, *, inclusive: bool = True) -> date:
        """The first working day on or after ``d`` (strictly after it when ``inclusive`` is False)."""
        d = _as_date(d)
        ordinal = d.toordinal() if inclusive else d.toordinal() + 1
        year = date.fromordinal(ordinal).year
        while True:
            working = self._table(year).working
            i = bisect.bisect_left(working, ordinal)
            if i < len(working):
                return date.fromordinal(working[i])
            year += 1

    def previous_working_day(self, d: date, *, inclusive: bool = True) -> date:
        """The last working day on or before ``d`` (strictly before it when ``inclusive`` is False).

        Used for report dates "moved earlier on holidays" (遇节假日提前).
        """
        d = _as_date(d)
        ordinal = d.toordinal() if inclusive else d.toordinal() - 1
        year = date.fromordinal(ordinal).year
        while True:
            working = self._table(year).working
            i = bisect.bisect_right(working, ordinal)
            if i > 0:
                return date.fromordinal(working[i - 1])
            year -= 1

    def shift_to_working_day(self, d: date, *, direction: Literal["earlier", "later"]) -> date:
        """``d`` itself if it is a working day, else the previous ("earlier") or next ("later") one."""
        if direction == "earlier":
            return self.previous_working_day(d, inclusive=True)
        if direction == "later":
            return self.next_working_day(d, inclusive=True)
        raise ValueError(f"direction must be 'earlier' or 'later', not {direction!r}")

    # ---- arithmetic

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after ``start`` (``start`` is not counted).

        ``n=0`` returns ``start`` if it is a working day, otherwise the next working day.
        """
        start = _as_date(start)
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if n == 0:
            return self.next_working_day(start, inclusive=True)
        year = start.year
        table = self._table(year)
        index = table.rank(start) + n - 1  # index into this year's working days
        while index >= len(table.working):
            index -= len(table.working)
            year += 1
            table = self._table(year)
        return date.fromordinal(table.working[index])

    def working_days_between(self, a: date, b: date) -> int:
        """Working days in ``(a, b]``; ``-working_days_between(b, a)`` when ``b < a``."""
        a, b = _as_date(a), _as_date(b)
        if b < a:
            return -self.working_days_between(b, a)
        first = self._table(a.year)
        if a.year == b.year:
            return first.rank(b) - first.rank(a)
        total = len(first.working) - first.rank(a)
        for year in range(a.year + 1, b.year):
            total += len(self._table(year).working)
        return total + self._table(b.year).rank(b)

    def deadline_end_of_day(self, start: datetime, n: int, *, tz: tzinfo | str = DEFAULT_TZ) -> datetime:
        """Exclusive end of the n-th working day after the local date of ``start``.

        Returns 00:00 in ``tz`` on the day after the due working day (tz-aware). ``start`` must be
        tz-aware. It is converted to ``tz`` (default Asia/Shanghai) before its date is taken.
        """
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError("deadline_end_of_day needs a tz-aware start datetime")
        zone = ZoneInfo(tz) if isinstance(tz, str) else tz
        due = self.add_working_days(start.astimezone(zone).date(), n)
        return datetime.combine(due + timedelta(days=1), time(0), tzinfo=zone)


def _as_date(d: date) -> date:
    return d.date() if isinstance(d, datetime) else d


@lru_cache(maxsize=1)
def default_calendar() -> WorkingCalendar:
    """The shared calendar without tenant overrides."""
    return WorkingCalendar()
