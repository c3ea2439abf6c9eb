"""Due dates of report schedules (rules section ``reports``) on the working-day calendar.

Period keys: weekly ``2026-W47`` (ISO week), semi-monthly ``2026-11-H1`` / ``2026-11-H2`` (first and
second due day of the month), monthly ``2026-11``.

* weekly: the schedule's weekday of that ISO week;
* semi-monthly: ``days[0]`` (H1) and ``days[1]`` (H2) of the month (Anyang: 12th and 25th);
* monthly: ``day`` of the month (a day past the month's end means its last day).

A nominal due day that is not a working day moves per ``holiday_shift``: ``earlier`` → the previous
working day (遇节假日提前; a make-up Saturday 调休 is a working day), ``later`` → the next one,
``none`` → stays. The due time is ``due_time`` in Asia/Shanghai on the due day.

Summary date (``summary_offset_days``, Anyang: 13th/26th): nominal due day + offset calendar days;
if that day is not a working day, or does not fall after the (possibly moved) due day, it becomes
the first working day after both — the office compiles what it has received.

Every computed period says which calendar covered its dates: ``official`` (chinese_calendar),
``overrides`` (the tenant declared the year complete) or ``fallback`` (Mon–Fri only, e.g. 2027),
and ``calendar_fallback`` is true when any date of it came from the fallback.
"""

from __future__ import annotations

import calendar as pycal
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from steward.kit.calendar import DEFAULT_TZ, CalendarOverrides, HolidayEntry, WorkingCalendar
from steward.kit.errors import ValidationFailed
from steward.rules import RulesDocument
from steward.rules.reports import ReportSchedule

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_HALF = re.compile(r"^(\d{4})-(\d{2})-H([12])$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class Period:
    schedule_key: str
    kind: str
    key: str
    start: date  # first day the period covers
    end: date  # last day it covers
    nominal_due: date
    due_date: date
    due_at: datetime  # tz-aware, Asia/Shanghai
    shifted: bool
    shift_reason: str | None
    summary_date: date | None
    coverage: dict[int, str] = field(default_factory=dict)

    @property
    def calendar_fallback(self) -> bool:
        return any(kind == "fallback" for kind in self.coverage.values())


def calendar_for(rules: RulesDocument) -> WorkingCalendar:
    """The tenant's working calendar: official data plus its ``calendar`` overrides."""
    section = rules.calendar
    payload = json.dumps(section.model_dump(mode="json"), sort_keys=True)
    return _calendar(payload)


@lru_cache(maxsize=128)
def _calendar(payload: str) -> WorkingCalendar:
    data = json.loads(payload)
    if not (data.get("holidays") or data.get("workdays") or data.get("complete_years")):
        return WorkingCalendar()
    return WorkingCalendar(
        CalendarOverrides(
            holidays=[HolidayEntry(date=d["date"], name=d.get("name")) for d in data.get("holidays", [])],
            workdays=[HolidayEntry(date=d["date"], name=d.get("name")) for d in data.get("workdays", [])],
            complete_years=list(data.get("complete_years", [])),
        )
    )


def period_kind_of(key: str) -> str:
    if _WEEK.match(key):
        return "weekly"
    if _HALF.match(key):
        return "semi_monthly"
    if _MONTH.match(key):
        return "monthly"
    raise ValidationFailed(
        f"period {key!r} is not like 2026-W47, 2026-11-H2 or 2026-11",
        code="invalid_period",
        details=[{"loc": ["period"], "message": "bad period key", "type": "value_error"}],
    )


def _bad_period(key: str, schedule: ReportSchedule) -> ValidationFailed:
    return ValidationFailed(
        f"period {key!r} does not fit the {schedule.kind} schedule {schedule.key!r}",
        code="period_mismatch",
        details=[{"loc": ["period"], "message": f"schedule kind {schedule.kind}", "type": "value_error"}],
    )


def _shift(schedule: ReportSchedule, cal: WorkingCalendar, nominal: date) -> tuple[date, str | None]:
    info = cal.day_info(nominal)
    if info.working or schedule.holiday_shift == "none":
        return nominal, None
    moved = cal.shift_to_working_day(nominal, direction=schedule.holiday_shift)
    reason = f"{nominal.isoformat()} is a {info.kind}" + (f" ({info.name})" if info.name else "")
    return moved, reason


def _month_day(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, pycal.monthrange(year, month)[1]))


def period(schedule: ReportSchedule, cal: WorkingCalendar, key: str) -> Period:
    """The period ``key`` of ``schedule`` with its due date, due time and summary date."""
    if period_kind_of(key) != schedule.kind:
        raise _bad_period(key, schedule)
    if schedule.kind == "weekly":
        m = _WEEK.match(key)
        assert m
        year, week = int(m.group(1)), int(m.group(2))
        try:
            start = date.fromisocalendar(year, week, 1)
        except ValueError as exc:
            raise _bad_period(key, schedule) from exc
        end = start + timedelta(days=6)
        nominal = start + timedelta(days=schedule.weekday or 0)
    elif schedule.kind == "semi_monthly":
        m = _HALF.match(key)
        assert m
        year, month, half = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if not 1 <= month <= 12:
            raise _bad_period(key, schedule)
        days = schedule.due_days()
        last = pycal.monthrange(year, month)[1]
        start, end = (
            (date(year, month, 1), date(year, month, 15))
            if half == 1
            else (
                date(year, month, 16),
                date(year, month, last),
            )
        )
        nominal = _month_day(year, month, days[half - 1])
    else:
        m = _MONTH.match(key)
        assert m
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise _bad_period(key, schedule)
        start = date(year, month, 1)
        end = date(year, month, pycal.monthrange(year, month)[1])
        nominal = _month_day(year, month, schedule.day or 1)
    due, reason = _shift(schedule, cal, nominal)
    summary: date | None = None
    if schedule.summary_offset_days is not None:
        candidate = max(nominal + timedelta(days=schedule.summary_offset_days), due + timedelta(days=1))
        summary = cal.next_working_day(candidate)
    years = {nominal.year, due.year} | ({summary.year} if summary else set())
    return Period(
        schedule_key=schedule.key,
        kind=schedule.kind,
        key=key,
        start=start,
        end=end,
        nominal_due=nominal,
        due_date=due,
        due_at=datetime.combine(due, schedule.due_time, tzinfo=DEFAULT_TZ),
        shifted=due != nominal,
        shift_reason=reason,
        summary_date=summary,
        coverage={y: cal.coverage(y).kind.value for y in sorted(years)},
    )


def key_containing(schedule: ReportSchedule, day: date) -> str:
    """The key of the period of ``schedule`` that covers ``day``."""
    if schedule.kind == "weekly":
        iso = day.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    if schedule.kind == "semi_monthly":
        return f"{day.year}-{day.month:02d}-H{1 if day.day <= 15 else 2}"
    return f"{day.year}-{day.month:02d}"


def next_key(schedule: ReportSchedule, key: str) -> str:
    p_end = _period_bounds(schedule, key)[1]
    return key_containing(schedule, p_end + timedelta(days=1))


def _period_bounds(schedule: ReportSchedule, key: str) -> tuple[date, date]:
    if schedule.kind == "weekly":
        m = _WEEK.match(key)
        assert m
        start = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
        return start, start + timedelta(days=6)
    if schedule.kind == "semi_monthly":
        m = _HALF.match(key)
        assert m
        y, mo, h = int(m.group(1)), int(m.group(2)), int(m.group(3))
        return (
            (date(y, mo, 1), date(y, mo, 15))
            if h == 1
            else (
                date(y, mo, 16),
                date(y, mo, pycal.monthrange(y, mo)[1]),
            )
        )
    m = _MONTH.match(key)
    assert m
    y, mo = int(m.group(1)), int(m.group(2))
    return date(y, mo, 1), date(y, mo, pycal.monthrange(y, mo)[1])


def periods_due_between(
    schedule: ReportSchedule, cal: WorkingCalendar, first: date, last: date
) -> list[Period]:
    """Periods whose (moved) due date lies in ``[first, last]``, in order."""
    out: list[Period] = []
    key = key_containing(schedule, first - timedelta(days=40))
    while True:
        p = period(schedule, cal, key)
        if p.due_date > last and p.start > last:
            return out
        if first <= p.due_date <= last:
            out.append(p)
        key = next_key(schedule, key)


def reminder_times(schedule: ReportSchedule, cal: WorkingCalendar, p: Period) -> list[tuple[int, datetime]]:
    """(working days before, when) for each reminder of the period, earliest first, before due time."""
    out = []
    for n in sorted(set(schedule.reminder_working_days_before), reverse=True):
        day = p.due_date
        for _ in range(n):
            day = cal.previous_working_day(day, inclusive=False)
        at = datetime.combine(day, schedule.reminder_time, tzinfo=DEFAULT_TZ)
        if at < p.due_at:
            out.append((n, at))
    return out


def local_time(value: time) -> str:
    return value.strftime("%H:%M")
