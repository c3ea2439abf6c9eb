"""Working-day deadlines, reminder points and escalation targets — pure functions over the policy
snapshot stored with each matter at filing (docs/architecture.md §6: computed once under the rules in force then;
later rule changes do not move them).

Conventions (Asia/Shanghai): counting starts the working day after filing; a deadline is the
*exclusive* boundary 00:00 after the due working day; reminders fire at 09:00 local time.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Literal

from steward.kit.calendar import DEFAULT_TZ, CalendarOverrides, WorkingCalendar, default_calendar
from steward.rules import RulesDocument

TIERS: tuple[str, ...] = ("unit", "district", "city", "government")
REMINDER_TIME = time(9, 0)
MAX_HORIZON_DAYS = 3 * 366  # a deadline given as a date lies within three years of today

Phase = Literal["before", "due_day", "overdue"]


def policy_of(rules: RulesDocument, *, kind: str, category: str | None, fingerprint: str) -> dict[str, Any]:
    """The part of a tenant's rules a matter keeps for its whole life (JSON-ready)."""
    m = rules.matters
    return {
        "sla": {t: m.sla_days(kind, t, category=category) for t in TIERS},  # type: ignore[arg-type]
        "chain": list(m.escalation.chain),
        "auto_escalate_after": m.escalation.auto_escalate_after_overdue_days,
        "reset_on_escalation": m.escalation.reset_deadline_on_escalation,
        "reminders": {
            "before": sorted(set(m.reminders.before_working_days), reverse=True),
            "on_due_day": m.reminders.on_due_day,
            "overdue_every": m.reminders.overdue_every_working_days,
        },
        "difficult_answer_days": m.difficult_answer_days,
        "materials_notice_days": m.materials_notice_days,
        "feedback_by_reporter": m.feedback_by_reporter,
        "calendar": rules.calendar.model_dump(mode="json"),
        "rules_fingerprint": fingerprint,
    }


@lru_cache(maxsize=256)
def _calendar(key: str) -> WorkingCalendar:
    data = json.loads(key)
    if not (data.get("holidays") or data.get("workdays") or data.get("complete_years")):
        return default_calendar()
    return WorkingCalendar(CalendarOverrides.model_validate(data))


def calendar_of(policy: dict[str, Any]) -> WorkingCalendar:
    """The tenant's working calendar (official data + the overrides in the policy), cached."""
    return _calendar(json.dumps(policy.get("calendar") or {}, sort_keys=True))


def local_date(at: datetime) -> date:
    return at.astimezone(DEFAULT_TZ).date()


def end_of(day: date) -> datetime:
    """Exclusive end of ``day``: 00:00 Asia/Shanghai on the next day."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=DEFAULT_TZ)


def due_date(due_at: datetime) -> date:
    """The due working day of an exclusive deadline."""
    return (due_at.astimezone(DEFAULT_TZ) - timedelta(microseconds=1)).date()


def deadline(cal: WorkingCalendar, start: datetime, days: int) -> datetime:
    """End of the ``days``-th working day after the local date of ``start``."""
    return cal.deadline_end_of_day(start, days)


def extend(cal: WorkingCalendar, due_at: datetime, days: int) -> datetime:
    """The deadline moved later by ``days`` working days (SLA pause)."""
    if days <= 0:
        return due_at
    return end_of(cal.add_working_days(due_date(due_at), days))


def paused_working_days(cal: WorkingCalendar, paused_at: datetime, resumed_at: datetime) -> int:
    """Working days in (pause day, resume day]: paused Monday, resumed Tuesday → 1."""
    return max(0, cal.working_days_between(local_date(paused_at), local_date(resumed_at)))


def working_days_overdue(cal: WorkingCalendar, due_at: datetime, now: datetime) -> int:
    if now < due_at:
        return 0
    return max(0, cal.working_days_between(due_date(due_at), local_date(now)))


def escalate_at(cal: WorkingCalendar, due_at: datetime, after: int) -> datetime:
    """When an overdue matter moves up: ``after`` working days past its deadline (0 = at once)."""
    if after <= 0:
        return due_at
    return end_of(cal.add_working_days(due_date(due_at), after))


def _at(day: date) -> datetime:
    return datetime.combine(day, REMINDER_TIME, tzinfo=DEFAULT_TZ)


def _nth_before(cal: WorkingCalendar, day: date, n: int) -> date:
    for _ in range(n):
        day = cal.previous_working_day(day, inclusive=False)
    return day


def reminder_points(policy: dict[str, Any], due_at: datetime) -> list[tuple[datetime, Phase]]:
    """Reminders up to and including the due day, in time order."""
    cal = calendar_of(policy)
    rem = policy["reminders"]
    due = due_date(due_at)
    points: list[tuple[datetime, Phase]] = [(_at(_nth_before(cal, due, n)), "before") for n in rem["before"]]
    if rem["on_due_day"]:
        points.append((_at(due), "due_day"))
    return sorted(set(points))


def next_reminder(policy: dict[str, Any], due_at: datetime, now: datetime) -> datetime | None:
    """The first reminder strictly after ``now`` (overdue reminders repeat every N working days)."""
    for at, _ in reminder_points(policy, due_at):
        if at > now:
            return at
    every = policy["reminders"]["overdue_every"]
    cal = calendar_of(policy)
    due = due_date(due_at)
    first = _at(cal.add_working_days(due, 1))
    if first > now:
        return first
    if every is None:
        return None
    day = cal.add_working_days(due, 1)
    while _at(day) <= now:
        day = cal.add_working_days(day, every)
    return _at(day)


def phase_at(policy: dict[str, Any], due_at: datetime, now: datetime) -> tuple[Phase, int]:
    """What a reminder firing at ``now`` says: before (working days left), due day, or overdue (days)."""
    cal = calendar_of(policy)
    if now >= due_at:
        return "overdue", max(1, working_days_overdue(cal, due_at, now))
    today, due = local_date(now), due_date(due_at)
    if today >= due:
        return "due_day", 0
    return "before", cal.working_days_between(today, due)


def _level(kind: str) -> str:
    if kind == "city":
        return "city"
    if kind in ("district", "county"):
        return "district"
    return "zone"


def tenant_for_tier(ancestry: list[dict[str, str]], tier: str) -> str:
    """Which tenant handles a matter at ``tier``, along the home tenant's ancestry (root first).

    unit → the home tenant; district → the nearest district/county at or above it (a zone directly
    under the city acts at district level itself); city and government → the nearest city above.
    """
    home = ancestry[-1]["code"]
    upward = list(reversed(ancestry))
    if tier == "unit":
        return home
    if tier == "district":
        for t in upward:
            if _level(t["kind"]) == "district":
                return str(t["code"])
        below_city = [t for t in upward if _level(t["kind"]) != "city"]
        return str(below_city[-1]["code"]) if below_city else home
    for t in upward:
        if _level(t["kind"]) == "city":
            return str(t["code"])
    return str(ancestry[0]["code"])


def next_tier(policy: dict[str, Any], tier: str) -> str | None:
    """One tier up the stored escalation chain (or the next chain tier above ``tier``)."""
    pos = TIERS.index(tier)
    return next((t for t in policy["chain"] if TIERS.index(t) > pos), None)
