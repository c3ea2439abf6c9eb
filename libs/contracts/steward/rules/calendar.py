"""Section ``calendar``: a tenant's working-day overrides (holidays, make-up working days 调休, and the
years it declares complete). Same shape as ``steward.kit.calendar.CalendarOverrides``, defined here so
the contracts package does not depend on kit."""

from __future__ import annotations

from datetime import date

from pydantic import Field, model_validator

from steward.rules.base import StrictModel

__all__ = ["CalendarSection", "DayEntry"]


class DayEntry(StrictModel):
    date: date
    name: str | None = None


class CalendarSection(StrictModel):
    holidays: list[DayEntry] = Field(default_factory=list)
    workdays: list[DayEntry] = Field(default_factory=list, description="make-up working days (调休上班)")
    complete_years: list[int] = Field(
        default_factory=list, description="years whose holidays/workdays here are the full official list"
    )

    @model_validator(mode="after")
    def _consistent(self) -> CalendarSection:
        holidays = [d.date for d in self.holidays]
        workdays = [d.date for d in self.workdays]
        for label, days in (("holidays", holidays), ("workdays", workdays)):
            dupes = sorted({d for d in days if days.count(d) > 1})
            if dupes:
                raise ValueError(f"calendar.{label}: dates listed twice: {[d.isoformat() for d in dupes]}")
        both = sorted(set(holidays) & set(workdays))
        if both:
            raise ValueError(f"calendar: dates both holiday and workday: {[d.isoformat() for d in both]}")
        if any(not 1900 <= y <= 2200 for y in self.complete_years):
            raise ValueError("calendar.complete_years: implausible year")
        return self
