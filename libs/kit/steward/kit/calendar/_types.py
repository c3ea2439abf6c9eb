"""Value types of the working-day calendar: day info, coverage and tenant overrides."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DayKind = Literal["workday", "weekend", "holiday", "makeup_workday"]
DaySource = Literal["official", "override", "fallback"]


@dataclass(frozen=True, slots=True)
class DayInfo:
    """What the calendar says about one date.

    ``kind`` is "holiday" for a named day off (official or tenant), "weekend" for an ordinary
    Saturday/Sunday (or an unnamed tenant day off on a weekend), "makeup_workday" for a Saturday or
    Sunday that is worked (调休), otherwise "workday". ``name`` is the holiday's Chinese name (e.g.
    "国庆节", also on its make-up days) or the tenant's name. ``source`` says what decided:
    "override" for a tenant-listed date or any date of a year the tenant declared complete,
    "official" for the package's data, "fallback" for the Mon–Fri rule.
    """

    date: date
    working: bool
    kind: DayKind
    name: str | None
    source: DaySource


class CoverageKind(StrEnum):
    OFFICIAL = "official"  # the chinese_calendar package has the year
    OVERRIDES = "overrides"  # the tenant's overrides declare the year complete
    FALLBACK = "fallback"  # only Mon–Fri (plus any partial overrides)


@dataclass(frozen=True, slots=True)
class Coverage:
    year: int
    kind: CoverageKind

    @property
    def covered(self) -> bool:
        return self.kind is not CoverageKind.FALLBACK


class HolidayEntry(BaseModel):
    """A date with an optional name. Rules documents can give a bare ``"2027-01-01"`` string."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    date: date
    name: str | None = Field(default=None, max_length=100)

    @model_validator(mode="before")
    @classmethod
    def _accept_bare_date(cls, value: Any) -> Any:
        if isinstance(value, str | date):
            return {"date": value}
        return value

    @field_validator("name")
    @classmethod
    def _blank_name_is_none(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        return value or None


def _sorted_unique(entries: list[HolidayEntry], field: str) -> list[HolidayEntry]:
    seen: set[date] = set()
    dups: set[date] = set()
    for entry in entries:
        (dups if entry.date in seen else seen).add(entry.date)
    if dups:
        listed = ", ".join(d.isoformat() for d in sorted(dups))
        raise ValueError(f"calendar overrides: duplicate date(s) in {field}: {listed}")
    return sorted(entries, key=lambda e: e.date)


class CalendarOverrides(BaseModel):
    """The "calendar overrides" section of tenant rules: extra days off and make-up working days."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    holidays: list[HolidayEntry] = Field(default_factory=list, description="Extra days off.")
    workdays: list[HolidayEntry] = Field(default_factory=list, description="Make-up working days (调休).")
    complete_years: list[int] = Field(
        default_factory=list, description="Years whose holidays and make-up days are fully listed here."
    )

    @field_validator("holidays")
    @classmethod
    def _check_holidays(cls, value: list[HolidayEntry]) -> list[HolidayEntry]:
        return _sorted_unique(value, "holidays")

    @field_validator("workdays")
    @classmethod
    def _check_workdays(cls, value: list[HolidayEntry]) -> list[HolidayEntry]:
        return _sorted_unique(value, "workdays")

    @field_validator("complete_years")
    @classmethod
    def _check_years(cls, value: list[int]) -> list[int]:
        bad = [y for y in value if not 1 <= y <= 9999]
        if bad:
            raise ValueError(f"calendar overrides: complete_years out of range 1..9999: {bad}")
        if len(set(value)) != len(value):
            raise ValueError(f"calendar overrides: duplicate year(s) in complete_years: {value}")
        return sorted(value)

    @model_validator(mode="after")
    def _no_date_both_ways(self) -> CalendarOverrides:
        both = sorted({e.date for e in self.holidays} & {e.date for e in self.workdays})
        if both:
            listed = ", ".join(d.isoformat() for d in both)
            raise ValueError(f"calendar overrides: date(s) listed as both holiday and workday: {listed}")
        return self
