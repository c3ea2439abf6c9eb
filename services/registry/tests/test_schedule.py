"""Due dates of report schedules on the working-day calendar — the dates users check by hand."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from steward.kit.calendar import DEFAULT_TZ
from steward.kit.errors import ValidationFailed
from steward.registry.reports import schedule as sched
from steward.rules import merge_rules, preset_rules
from steward.rules.reports import ReportSchedule

ANYANG = preset_rules("anyang")
SEMI = next(s for s in ANYANG.reports.schedules if s.key == "semi_monthly_progress")
CAL = sched.calendar_for(ANYANG)


def dues(schedule: ReportSchedule, first: date, last: date, cal: sched.WorkingCalendar = CAL) -> list[date]:
    return [p.due_date for p in sched.periods_due_between(schedule, cal, first, last)]


def test_anyang_october_2026_12th_and_23rd() -> None:
    # the 25th is a Sunday: moved EARLIER to Friday the 23rd
    assert dues(SEMI, date(2026, 10, 1), date(2026, 10, 31)) == [date(2026, 10, 12), date(2026, 10, 23)]
    h2 = sched.period(SEMI, CAL, "2026-10-H2")
    assert (h2.nominal_due, h2.shifted, h2.shift_reason) == (
        date(2026, 10, 25),
        True,
        "2026-10-25 is a weekend",
    )
    assert h2.due_at == datetime(2026, 10, 23, 17, 0, tzinfo=DEFAULT_TZ)
    # summary (通报) on the 13th and 26th
    assert sched.period(SEMI, CAL, "2026-10-H1").summary_date == date(2026, 10, 13)
    assert h2.summary_date == date(2026, 10, 26)
    assert h2.coverage == {2026: "official"} and not h2.calendar_fallback


def test_official_holidays_and_make_up_days_2026() -> None:
    # Mid-Autumn Festival, Friday 2026-09-25 → Thursday the 24th; its summary follows on Monday 28th
    h2 = sched.period(SEMI, CAL, "2026-09-H2")
    assert (h2.due_date, h2.shift_reason, h2.summary_date) == (
        date(2026, 9, 24),
        "2026-09-25 is a holiday (中秋)",
        date(2026, 9, 28),
    )
    weekly = preset_rules("huiji").reports.schedules[0]  # Friday 18:00, earlier on holidays
    # Spring Festival: Friday 2026-02-20 is off; the previous working day is the make-up Saturday 02-14
    w08 = sched.period(weekly, CAL, "2026-W08")
    assert (w08.due_date, w08.due_at.time()) == (date(2026, 2, 14), time(18, 0))
    assert w08.shift_reason == "2026-02-20 is a holiday (春节)"
    # National Day: Friday 2026-10-02 is off → Wednesday 09-30
    assert sched.period(weekly, CAL, "2026-W40").due_date == date(2026, 9, 30)
    # the week after National Day: make-up Saturday 10-10 is a working day but the Friday is too
    assert sched.period(weekly, CAL, "2026-W41").due_date == date(2026, 10, 9)
    monthly = ReportSchedule(key="m", name_zh="月报", kind="monthly", day=17)
    # 2026-02-17 is 春节 → previous working day is the make-up Saturday 02-14
    assert sched.period(monthly, CAL, "2026-02").due_date == date(2026, 2, 14)
    later = ReportSchedule(key="m", name_zh="月报", kind="monthly", day=5, holiday_shift="later")
    assert sched.period(later, CAL, "2026-10").due_date == date(2026, 10, 8)  # holiday runs 10-01..07
    earlier = later.model_copy(update={"holiday_shift": "earlier"})
    assert sched.period(earlier, CAL, "2026-10").due_date == date(2026, 9, 30)
    fixed = later.model_copy(update={"holiday_shift": "none"})
    assert sched.period(fixed, CAL, "2026-10").due_date == date(2026, 10, 5)


def test_2026_semi_monthly_calendar_in_full() -> None:
    got = dues(SEMI, date(2026, 1, 1), date(2026, 12, 31))
    moved = {d for d in got if d.day not in (12, 25)}
    assert len(got) == 24
    assert moved == {
        date(2026, 1, 23),
        date(2026, 4, 10),
        date(2026, 4, 24),
        date(2026, 7, 10),
        date(2026, 7, 24),
        date(2026, 9, 11),
        date(2026, 9, 24),
        date(2026, 10, 23),
        date(2026, 12, 11),
    }
    assert all(CAL.is_working_day(d) for d in got)


def test_2027_falls_back_to_monday_to_friday_and_says_so() -> None:
    p = sched.period(SEMI, CAL, "2027-12-H1")  # Sunday 2027-12-12 → Friday 10th by the Mon–Fri rule
    assert p.due_date == date(2027, 12, 10)
    assert p.coverage == {2027: "fallback"} and p.calendar_fallback
    # a tenant that loads the official 2027 list itself is covered again
    rules = merge_rules(
        ANYANG,
        {"calendar": {"holidays": [{"date": "2027-02-12", "name": "春节"}], "complete_years": [2027]}},
    )
    cal = sched.calendar_for(rules)
    h1 = sched.period(SEMI, cal, "2027-02-H1")
    assert (
        h1.due_date == date(2027, 2, 11) and h1.coverage == {2027: "overrides"} and not h1.calendar_fallback
    )
    # the fallback calendar knows nothing of 2027's Spring Festival
    assert sched.period(SEMI, CAL, "2027-02-H1").due_date == date(2027, 2, 12)


def test_monthly_by_the_25th_and_short_months() -> None:
    jinniu = preset_rules("jinniu").reports.schedules[0]
    assert dues(jinniu, date(2026, 10, 1), date(2026, 12, 31)) == [
        date(2026, 10, 23),
        date(2026, 11, 25),
        date(2026, 12, 25),
    ]
    end = ReportSchedule(key="m", name_zh="月报", kind="monthly", day=31)
    assert sched.period(end, CAL, "2026-02").nominal_due == date(2026, 2, 28)


def test_period_keys_and_errors() -> None:
    weekly = preset_rules("huiji").reports.schedules[0]
    assert sched.key_containing(weekly, date(2026, 11, 20)) == "2026-W47"
    assert sched.key_containing(SEMI, date(2026, 11, 20)) == "2026-11-H2"
    assert sched.next_key(SEMI, "2026-12-H2") == "2027-01-H1"
    assert sched.next_key(weekly, "2026-W53") == "2027-W01"
    for bad in ("2026-11", "2026-13-H1", "2026-W", "xx"):
        with pytest.raises(ValidationFailed):
            sched.period(SEMI, CAL, bad)
    with pytest.raises(ValidationFailed):
        sched.period(weekly, CAL, "2026-W54")


def test_reminders_count_working_days_back() -> None:
    weekly = preset_rules("huiji").reports.schedules[0]  # reminders 1 and 0 working days before, 09:00
    p = sched.period(weekly, CAL, "2026-W08")  # due make-up Saturday 02-14
    times = sched.reminder_times(weekly, CAL, p)
    assert [(n, at.date()) for n, at in times] == [(1, date(2026, 2, 13)), (0, date(2026, 2, 14))]
