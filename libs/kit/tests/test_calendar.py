"""Tests for the working-day calendar (docs/architecture.md).

The holiday facts below were checked against chinesecalendar 1.11.0 (the State Council notice
for 2026). 2026 holidays: 元旦 01-01..01-03; 春节 02-15..02-23; 清明 04-04..04-06; 劳动节 05-01..05-05;
端午 06-19..06-21; 中秋 09-25..09-27; 国庆节 10-01..10-07. Make-up working days (调休): Sun 01-04,
Sat 02-14, Sat 02-28, Sat 05-09, Sun 09-20, Sat 10-10.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from pydantic import ValidationError

from steward.kit.calendar import (
    DEFAULT_TZ,
    OFFICIAL_YEARS,
    CalendarOverrides,
    CoverageKind,
    DayInfo,
    HolidayEntry,
    WorkingCalendar,
    default_calendar,
    fallback_years_seen,
)

D = date.fromisoformat
CAL = default_calendar()
NEEDS_2027_UNCOVERED = pytest.mark.skipif(
    2027 in OFFICIAL_YEARS, reason="the installed chinesecalendar now has 2027 data"
)


def overrides_2027(*, complete: bool = False) -> CalendarOverrides:
    return CalendarOverrides.model_validate(
        {
            "holidays": [{"date": "2027-01-01", "name": "元旦"}],
            "workdays": [{"date": "2027-01-09", "name": "元旦调休"}],
            "complete_years": [2027] if complete else [],
        }
    )


# --------------------------------------------------------------------------- official data


def test_official_years_are_probed() -> None:
    assert 2026 in OFFICIAL_YEARS
    assert {2020, 2024, 2025} <= OFFICIAL_YEARS
    assert 1900 not in OFFICIAL_YEARS


def test_national_day_2026_facts() -> None:
    assert CAL.is_working_day(D("2026-09-28"))  # Monday
    assert CAL.is_working_day(D("2026-09-29"))
    assert CAL.is_working_day(D("2026-09-30"))
    for day in range(1, 8):
        info = CAL.day_info(date(2026, 10, day))
        assert (info.working, info.kind, info.name, info.source) == (False, "holiday", "国庆节", "official")
    assert CAL.is_working_day(D("2026-10-08"))  # Thursday
    assert CAL.is_working_day(D("2026-10-09"))  # Friday
    assert CAL.day_info(D("2026-10-10")) == DayInfo(
        D("2026-10-10"), True, "makeup_workday", "国庆节", "official"
    )
    assert CAL.day_info(D("2026-10-11")) == DayInfo(D("2026-10-11"), False, "weekend", None, "official")
    assert CAL.day_info(D("2026-09-20")).kind == "makeup_workday"  # Sunday before, also 国庆节 调休
    assert CAL.day_info(D("2026-09-26")).kind == "holiday"  # 中秋 Sat 09-25..27
    assert CAL.day_info(D("2026-09-26")).name == "中秋"


def test_add_working_days_across_national_day_2026() -> None:
    start = D("2026-09-29")  # Tuesday
    assert CAL.add_working_days(start, 5) == D("2026-10-12")
    steps = [CAL.add_working_days(start, n) for n in range(1, 6)]
    assert steps == [D("2026-09-30"), D("2026-10-08"), D("2026-10-09"), D("2026-10-10"), D("2026-10-12")]


def test_spring_festival_2026() -> None:
    for d in (D("2026-02-15") + timedelta(days=i) for i in range(9)):  # 02-15 .. 02-23
        info = CAL.day_info(d)
        assert not info.working
        assert (info.kind, info.name) == ("holiday", "春节")
    assert CAL.day_info(D("2026-02-16")).kind == "holiday"  # Monday, 除夕 eve
    for makeup in (D("2026-02-14"), D("2026-02-28")):  # both Saturdays
        assert makeup.weekday() == 5
        assert CAL.day_info(makeup) == DayInfo(makeup, True, "makeup_workday", "春节", "official")
    assert CAL.is_working_day(D("2026-02-13"))  # Friday
    assert CAL.is_working_day(D("2026-02-24"))  # Tuesday, first day back
    assert not CAL.is_working_day(D("2026-02-22"))
    assert CAL.add_working_days(D("2026-02-13"), 1) == D("2026-02-14")
    assert CAL.add_working_days(D("2026-02-14"), 1) == D("2026-02-24")
    # Huiji seed: "3个工作日内给予明确答复", asked on Friday 02-13 → Sat 02-14, Tue 02-24, Wed 02-25.
    assert CAL.add_working_days(D("2026-02-13"), 3) == D("2026-02-25")
    assert CAL.working_days_between(D("2026-02-13"), D("2026-02-28")) == 6  # 14, 24, 25, 26, 27, 28


def test_new_year_2026_makeup_sunday() -> None:
    assert not CAL.is_working_day(D("2026-01-02"))  # Friday, 元旦
    assert CAL.day_info(D("2026-01-04")).kind == "makeup_workday"  # Sunday
    assert CAL.add_working_days(D("2025-12-31"), 1) == D("2026-01-04")


# --------------------------------------------------------------------------- moved report dates


def test_semi_monthly_reports_moved_earlier() -> None:
    # Anyang seed: reports on the 12th and 25th, 遇节假日提前 (moved to the previous working day).
    assert CAL.shift_to_working_day(D("2026-10-25"), direction="earlier") == D("2026-10-23")
    assert CAL.shift_to_working_day(D("2026-10-12"), direction="earlier") == D("2026-10-12")
    assert CAL.previous_working_day(D("2026-10-25")) == D("2026-10-23")
    assert CAL.previous_working_day(D("2026-10-12")) == D("2026-10-12")
    assert CAL.previous_working_day(D("2026-10-12"), inclusive=False) == D("2026-10-10")
    assert CAL.previous_working_day(D("2026-10-07")) == D("2026-09-30")
    assert CAL.shift_to_working_day(D("2026-10-25"), direction="later") == D("2026-10-26")
    assert CAL.next_working_day(D("2026-10-01")) == D("2026-10-08")
    assert CAL.next_working_day(D("2026-10-09"), inclusive=False) == D("2026-10-10")
    with pytest.raises(ValueError, match="direction"):
        CAL.shift_to_working_day(D("2026-10-25"), direction="sideways")  # type: ignore[arg-type]


def test_report_dates_over_a_year_are_working_days_not_later_than_nominal() -> None:
    for month in range(1, 13):
        for day in (12, 25):
            nominal = date(2026, month, day)
            moved = CAL.shift_to_working_day(nominal, direction="earlier")
            assert moved <= nominal
            assert CAL.is_working_day(moved)
            assert CAL.working_days_between(moved, nominal) == 0
    assert CAL.shift_to_working_day(D("2026-04-05"), direction="earlier") == D("2026-04-03")


# --------------------------------------------------------------------------- arithmetic


def test_add_working_days_zero_and_negative() -> None:
    assert CAL.add_working_days(D("2026-09-29"), 0) == D("2026-09-29")
    assert CAL.add_working_days(D("2026-10-03"), 0) == D("2026-10-08")
    assert CAL.add_working_days(D("2026-10-03"), 1) == D("2026-10-08")
    with pytest.raises(ValueError, match=">= 0"):
        CAL.add_working_days(D("2026-09-29"), -1)


def test_add_working_days_accepts_datetime_as_its_date() -> None:
    assert CAL.add_working_days(datetime(2026, 9, 29, 23, 0), 5) == D("2026-10-12")


def test_working_days_between() -> None:
    assert CAL.working_days_between(D("2026-09-29"), D("2026-10-12")) == 5
    assert CAL.working_days_between(D("2026-10-12"), D("2026-09-29")) == -5
    assert CAL.working_days_between(D("2026-10-01"), D("2026-10-01")) == 0
    assert CAL.working_days_between(D("2026-10-01"), D("2026-10-07")) == 0
    assert CAL.working_days_between(D("2026-09-30"), D("2026-10-08")) == 1
    # Whole official year 2026: 365 days − 104 weekend days − 19 weekday holidays + 6 make-up days.
    assert CAL.working_days_between(D("2025-12-31"), D("2026-12-31")) == 248


def test_deadline_end_of_day() -> None:
    start = datetime(2026, 9, 29, 10, 30, tzinfo=DEFAULT_TZ)
    end = CAL.deadline_end_of_day(start, 5)
    assert end == datetime(2026, 10, 13, 0, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert end.tzinfo is not None and end.utcoffset() == timedelta(hours=8)
    # 2026-09-28 17:00 UTC is already 2026-09-29 01:00 in Shanghai.
    assert CAL.deadline_end_of_day(datetime(2026, 9, 28, 17, 0, tzinfo=UTC), 5) == end
    assert CAL.deadline_end_of_day(start, 5, tz="Asia/Shanghai") == end
    # Exclusive boundary: anything on 10-12 local is on time, 10-13 00:00 is late.
    assert datetime(2026, 10, 12, 23, 59, 59, tzinfo=DEFAULT_TZ) < end
    assert CAL.deadline_end_of_day(start, 0) == datetime(2026, 9, 30, tzinfo=DEFAULT_TZ)
    with pytest.raises(ValueError, match="tz-aware"):
        CAL.deadline_end_of_day(datetime(2026, 9, 29, 10, 30), 5)


# --------------------------------------------------------------------------- fallback and overrides


@NEEDS_2027_UNCOVERED
def test_2027_uses_fallback_and_is_reported() -> None:
    cov = CAL.coverage(2027)
    assert cov.kind is CoverageKind.FALLBACK and not cov.covered
    assert CAL.coverage(2026).kind is CoverageKind.OFFICIAL and CAL.coverage(2026).covered
    before = REGISTRY.get_sample_value("steward_calendar_fallback_total", {"year": "2027"}) or 0.0
    info = CAL.day_info(D("2027-01-01"))  # Friday: a plain working day under the fallback
    assert info == DayInfo(D("2027-01-01"), True, "workday", None, "fallback")
    assert CAL.day_info(D("2027-01-02")) == DayInfo(D("2027-01-02"), False, "weekend", None, "fallback")
    assert 2027 in fallback_years_seen()
    after = REGISTRY.get_sample_value("steward_calendar_fallback_total", {"year": "2027"})
    assert after is not None and after >= before + 2
    assert CAL.uncovered_years([2027, 2026, 2027, 2028]) == [2027, 2028]
    assert CAL.add_working_days(D("2026-12-31"), 1) == D("2027-01-01")


@NEEDS_2027_UNCOVERED
def test_overrides_2027_take_effect() -> None:
    cal = CAL.with_overrides(overrides_2027())
    assert cal.day_info(D("2027-01-01")) == DayInfo(D("2027-01-01"), False, "holiday", "元旦", "override")
    assert cal.day_info(D("2027-01-09")) == DayInfo(
        D("2027-01-09"), True, "makeup_workday", "元旦调休", "override"
    )
    assert cal.add_working_days(D("2026-12-31"), 1) == D("2027-01-04")
    assert cal.working_days_between(D("2027-01-01"), D("2027-01-10")) == 6  # 4..8 and Sat 9
    assert cal.coverage(2027).kind is CoverageKind.FALLBACK  # not declared complete
    # The original calendar is unaffected.
    assert CAL.is_working_day(D("2027-01-01"))
    assert not CAL.is_working_day(D("2027-01-09"))

    complete = CAL.with_overrides(overrides_2027(complete=True))
    assert complete.coverage(2027).kind is CoverageKind.OVERRIDES
    assert complete.uncovered_years([2026, 2027, 2028]) == [2028]
    assert complete.day_info(D("2027-01-04")).source == "override"


def test_overrides_beat_official_data() -> None:
    cal = WorkingCalendar(
        CalendarOverrides(
            holidays=[
                HolidayEntry(date=D("2026-10-10"), name=None),
                HolidayEntry(date=D("2026-10-08"), name="县庆"),
            ],
            workdays=[HolidayEntry(date=D("2026-10-07"))],
        )
    )
    assert cal.day_info(D("2026-10-07")) == DayInfo(D("2026-10-07"), True, "workday", None, "override")
    assert cal.day_info(D("2026-10-08")).kind == "holiday"
    assert cal.day_info(D("2026-10-10")) == DayInfo(D("2026-10-10"), False, "weekend", None, "override")
    # 09-30, 10-07, 10-09, 10-12, 10-13
    assert cal.add_working_days(D("2026-09-29"), 5) == D("2026-10-13")
    assert cal.coverage(2026).kind is CoverageKind.OFFICIAL


def test_default_calendar_is_shared_and_with_overrides_is_new() -> None:
    assert default_calendar() is default_calendar()
    other = default_calendar().with_overrides(CalendarOverrides())
    assert other is not default_calendar()
    assert other.overrides == CalendarOverrides()


# --------------------------------------------------------------------------- validation


def test_overrides_validation() -> None:
    with pytest.raises(ValidationError, match=r"both holiday and workday: 2027-01-01"):
        CalendarOverrides.model_validate({"holidays": ["2027-01-01"], "workdays": ["2027-01-01"]})
    with pytest.raises(ValidationError, match=r"duplicate date\(s\) in holidays: 2027-01-01"):
        CalendarOverrides.model_validate({"holidays": ["2027-01-01", {"date": "2027-01-01", "name": "元旦"}]})
    with pytest.raises(ValidationError, match=r"duplicate date\(s\) in workdays"):
        CalendarOverrides.model_validate({"workdays": ["2027-01-09", "2027-01-09"]})
    with pytest.raises(ValidationError, match="complete_years"):
        CalendarOverrides.model_validate({"complete_years": [2027, 2027]})
    with pytest.raises(ValidationError, match="Extra inputs"):
        CalendarOverrides.model_validate({"holidayz": []})
    with pytest.raises(ValidationError):
        CalendarOverrides.model_validate({"holidays": ["2027-02-30"]})
    # ValidationError is a ValueError, as the rules loader expects.
    with pytest.raises(ValueError):
        CalendarOverrides.model_validate({"holidays": ["2027-01-01"], "workdays": ["2027-01-01"]})


def test_overrides_normalise_and_round_trip() -> None:
    ov = CalendarOverrides.model_validate(
        {
            "holidays": [
                "2027-02-01",
                {"date": "2027-01-01", "name": "  元旦 "},
                {"date": "2027-03-01", "name": " "},
            ]
        }
    )
    assert [e.date for e in ov.holidays] == [D("2027-01-01"), D("2027-02-01"), D("2027-03-01")]
    assert [e.name for e in ov.holidays] == ["元旦", None, None]
    assert CalendarOverrides.model_validate_json(ov.model_dump_json()) == ov


# --------------------------------------------------------------------------- properties and performance

_dates = st.dates(min_value=date(2018, 1, 1), max_value=date(2028, 12, 31))


@settings(max_examples=300, deadline=None)
@given(start=_dates, n=st.integers(min_value=1, max_value=300))
def test_add_then_count_round_trips(start: date, n: int) -> None:
    end = CAL.add_working_days(start, n)
    assert end > start
    assert CAL.is_working_day(end)
    assert CAL.working_days_between(start, end) == n
    assert CAL.working_days_between(start, end - timedelta(days=1)) == n - 1


@settings(max_examples=200, deadline=None)
@given(start=_dates, n=st.integers(min_value=0, max_value=40))
def test_round_trip_with_overrides(start: date, n: int) -> None:
    cal = CAL.with_overrides(overrides_2027())
    end = cal.add_working_days(start, n)
    assert cal.is_working_day(end)
    expected = n if n else (0 if cal.is_working_day(start) else 1)
    assert cal.working_days_between(start, end) == expected


@settings(max_examples=200, deadline=None)
@given(d=_dates)
def test_previous_and_next_bracket_the_day(d: date) -> None:
    prev, nxt = CAL.previous_working_day(d), CAL.next_working_day(d)
    assert prev <= d <= nxt
    assert CAL.is_working_day(prev) and CAL.is_working_day(nxt)
    assert CAL.working_days_between(prev, nxt) == (0 if prev == nxt else 1)
    assert (prev == d) == CAL.is_working_day(d)


def test_concurrent_first_use_is_consistent() -> None:
    cal = CAL.with_overrides(overrides_2027())
    results: list[date] = []
    lock = threading.Lock()

    def work() -> None:
        r = cal.add_working_days(D("2024-06-03"), 600)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 16 and len(set(results)) == 1
