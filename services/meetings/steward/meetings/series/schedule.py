"""The series' calendar, as pure functions over its rule (``MeetingSeries``) and the tenant's
working calendar (official holidays, 调休 and tenant overrides), all in Asia/Shanghai:

* the regular meeting dates (the series' weekday, e.g. Saturday: 原则上每周六上午召开);
* a meeting whose day is a public holiday is skipped (``skip_on_holiday``) or moved to the next
  working day, and says why (``holiday_note``); a make-up working Saturday (调休上班) is no holiday;
* the agenda deadline: the deadline weekday and time before the regular date (周二下午5点前),
  moved to the previous working day when that day is not a working day;
* the compilation day (周五汇总), moved earlier the same way;
* the reminder before the deadline, ``agenda_reminder_working_days_before`` working days ahead, 09:00.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from steward.kit.calendar import DEFAULT_TZ, CalendarOverrides, WorkingCalendar, default_calendar
from steward.rules import MeetingSeries

REMINDER_TIME = time(9, 0)


@lru_cache(maxsize=256)
def _calendar(key: str) -> WorkingCalendar:
    data = json.loads(key)
    if not (data.get("holidays") or data.get("workdays") or data.get("complete_years")):
        return default_calendar()
    return WorkingCalendar(CalendarOverrides.model_validate(data))


def calendar_of(snapshot: dict[str, Any] | None) -> WorkingCalendar:
    """The tenant's working calendar from the series' snapshot of its ``calendar`` rules (cached)."""
    return _calendar(json.dumps(snapshot or {}, sort_keys=True))


def local(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=DEFAULT_TZ)


def local_date(at: datetime) -> date:
    return at.astimezone(DEFAULT_TZ).date()


def regular_dates(spec: MeetingSeries, start: date, end: date) -> list[date]:
    """The series' weekday in ``[start, end]``."""
    first = start + timedelta(days=(spec.weekday - start.weekday()) % 7)
    out = []
    d = first
    while d <= end:
        out.append(d)
        d += timedelta(days=7)
    return out


@dataclass(frozen=True)
class Slot:
    """Where the meeting of one regular date lands."""

    regular_date: date
    day: date | None  # None: skipped
    holiday_note: str | None

    @property
    def skipped(self) -> bool:
        return self.day is None


def slot(spec: MeetingSeries, cal: WorkingCalendar, regular: date) -> Slot:
    info = cal.day_info(regular)
    if info.kind != "holiday":
        return Slot(regular, regular, None)
    name = info.name or "法定节假日"
    if spec.skip_on_holiday:
        return Slot(regular, None, f"{regular.isoformat()} 为{name}假期，本次例会不召开")
    moved = cal.next_working_day(regular)
    return Slot(regular, moved, f"{regular.isoformat()} 为{name}假期，顺延至 {moved.isoformat()}")


def _weekday_before(regular: date, weekday: int) -> date:
    """The last ``weekday`` strictly before ``regular`` (a week earlier when it is the same weekday)."""
    back = (regular.weekday() - weekday) % 7 or 7
    return regular - timedelta(days=back)


def agenda_deadline(spec: MeetingSeries, cal: WorkingCalendar, regular: date) -> datetime:
    """议题申报截止: e.g. Tuesday 17:00 before a Saturday meeting; earlier working day on a holiday."""
    day = _weekday_before(regular, spec.agenda_deadline.weekday)
    return local(cal.shift_to_working_day(day, direction="earlier"), spec.agenda_deadline.time)


def compile_due(spec: MeetingSeries, cal: WorkingCalendar, regular: date) -> date:
    """重点办汇总: the compile weekday before the meeting (Friday), earlier on a holiday."""
    day = _weekday_before(regular, spec.compile_weekday)
    return cal.shift_to_working_day(day, direction="earlier")


def reminder_at(spec: MeetingSeries, cal: WorkingCalendar, deadline: datetime) -> datetime:
    """09:00 on the working day ``agenda_reminder_working_days_before`` before the deadline day."""
    day = local_date(deadline)
    for _ in range(spec.agenda_reminder_working_days_before):
        day = cal.previous_working_day(day, inclusive=False)
    return local(day, REMINDER_TIME)


def default_due_date(cal: WorkingCalendar, held: date, working_days: int) -> date:
    """A decision's deadline when the chair sets none: N working days after the meeting day."""
    return cal.add_working_days(held, working_days)


def minutes_due(cal: WorkingCalendar, held: datetime, working_days: int) -> datetime:
    """Exclusive end of the N-th working day after the meeting (00:00 the day after)."""
    return cal.deadline_end_of_day(held, working_days)
