"""Working-day calendar (docs/architecture.md).

Official Chinese holidays and make-up working days (调休) come from the ``chinese_calendar`` package
(PyPI ``chinesecalendar``). The years it knows are detected once, at import, by probing. Each
tenant can add *overrides*: extra days off (``holidays``) and extra working days (``workdays``).
An override always beats the package. For a year the package does not know, Monday–Friday are
working days and Saturday/Sunday are rest days, and overrides still apply. A tenant can list such a
year in ``CalendarOverrides.complete_years`` to say that its overrides fully describe that year.

A computation that depends on a year covered only by the Mon–Fri fallback (not official, not
declared complete) is logged once per year and counted in ``steward_calendar_fallback_total{year}``.
``fallback_years_seen()`` lists those years for readiness details.

Conventions:

* ``add_working_days(start, n)`` returns the n-th working day *after* ``start``. ``start`` itself is
  never counted. So ``n=1`` is the next working day, even when ``start`` is a working day.
  ``n=0`` returns ``start`` if it is a working day, otherwise the next working day. A negative
  ``n`` is rejected.
* ``working_days_between(a, b)`` counts the working days in the half-open interval ``(a, b]``. It is
  negative (``-working_days_between(b, a)``) when ``b < a``. For every ``n >= 1``,
  ``working_days_between(s, add_working_days(s, n)) == n``.
* ``deadline_end_of_day(start, n)`` returns an *exclusive* boundary: 00:00 local time on the day
  after the due working day. The deadline is met when ``t < boundary``.

Calendars are immutable. Per-year tables are built lazily under a lock and then only read, so a
calendar can be shared between threads.
"""

from steward.kit.calendar._official import FALLBACK_COUNTER, OFFICIAL_YEARS, fallback_years_seen
from steward.kit.calendar._types import (
    CalendarOverrides,
    Coverage,
    CoverageKind,
    DayInfo,
    DayKind,
    DaySource,
    HolidayEntry,
)
from steward.kit.calendar._working import DEFAULT_TZ, WorkingCalendar, default_calendar

__all__ = [
    "DEFAULT_TZ",
    "FALLBACK_COUNTER",
    "OFFICIAL_YEARS",
    "CalendarOverrides",
    "Coverage",
    "CoverageKind",
    "DayInfo",
    "DayKind",
    "DaySource",
    "HolidayEntry",
    "WorkingCalendar",
    "default_calendar",
    "fallback_years_seen",
]
