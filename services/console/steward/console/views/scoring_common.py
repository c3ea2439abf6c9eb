"""What the scoring pages share: period keys as the scoring API writes them, Chinese labels, points
(exact decimals from the API, never floats) and who may correct an entry."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from steward.console.session import User
from steward.console.views.home import today
from steward.console.web import templates

PERIOD_KINDS = {"month": "月度", "quarter": "季度", "half_year": "半年", "year": "年度"}
SUBJECT_KINDS = {"agent": "代办员", "unit": "单位", "district": "地区"}
ACTIONS = {
    "praise": "通报表扬",
    "public_criticism": "通报批评",
    "warning": "警告",
    "admonition": "诫勉谈话",
    "written_self_criticism": "书面检查",
    "refer_to_organisation_dept": "报请组织部门处理",
}
POSITIONS = {"last": "排名末位", "bottom_n": "排名后列", "top_n": "排名前列"}
LIGHTS = {"red": "红灯", "yellow": "黄灯", "green": "绿灯"}
LIGHT_ORDER = {"red": 0, "yellow": 1, "green": 2}
# the scoring service lets these record manual entries, correct entries and publish rankings
# (steward.scoring.access)
EVALUATORS = ("supervisor", "leader", "tenant_admin", "platform_admin")
CORRECTORS = ("supervisor", "tenant_admin", "platform_admin")
PUBLISHERS = ("supervisor", "tenant_admin", "platform_admin")
LEVELS_ZH = {
    "very_satisfied": "非常满意",
    "satisfied": "满意",
    "neutral": "一般",
    "dissatisfied": "不满意",
    "very_dissatisfied": "非常不满意",
}
SOURCE_TYPES = {
    "manual": "人工录入",
    "correction": "更正",
    "matter.rated": "事项评价",
    "matter.overdue": "事项逾期",
    "survey.answered": "满意度测评",
    "survey.quarterly_rated": "季度评议",
    "meeting.held": "联席会议",
    "procedure.incomplete_at_period_end": "期末手续未完成",
    "procedure.completed": "手续办结",
    "procedure.assisted_completed": "协助办结",
    "procedure.notice_late": "未一次性告知",
    "attendance.late": "考勤：迟到早退",
    "attendance.absent": "考勤：旷工",
    "attendance.unauthorised_leave": "考勤：私自外出",
    "leadership.decision_not_executed": "领导决定事项",
}
MINUS = "\u2212"


def period_of(kind: str, year: int, month: int) -> str:
    if kind == "month":
        return f"{year}-{month:02d}"
    if kind == "quarter":
        return f"{year}-Q{(month - 1) // 3 + 1}"
    if kind == "half_year":
        return f"{year}-H{1 if month <= 6 else 2}"
    return str(year)


def kind_of(key: str) -> str:
    """The kind of a period key: ``2026-11`` month, ``2026-Q3`` quarter, ``2026-H2`` half year."""
    part = key.partition("-")[2]
    if not part:
        return "year"
    return {"Q": "quarter", "H": "half_year"}.get(part[0], "month")


def bounds(key: str) -> tuple[date, date]:
    """First and last day of a period key (Beijing calendar days)."""
    year, _, part = key.partition("-")
    y = int(year)
    if not part:
        first, months = 1, 12
    elif part[0] == "Q":
        first, months = 3 * (int(part[1]) - 1) + 1, 3
    elif part[0] == "H":
        first, months = 1 if part == "H1" else 7, 6
    else:
        first, months = int(part), 1
    start = date(y, first, 1)
    end_month = first + months  # the month after the period
    after = date(y + 1, 1, 1) if end_month > 12 else date(y, end_month, 1)
    return start, after - timedelta(days=1)


def current_period(kind: str) -> str:
    d = today()
    return period_of(kind, d.year, d.month)


def recent_periods(kind: str, count: int = 6) -> list[str]:
    """The current period and the ones before it, newest first (the select of a ranking page)."""
    d = today()
    step = {"month": 1, "quarter": 3, "half_year": 6, "year": 12}.get(kind, 3)
    out: list[str] = []
    index = d.year * 12 + d.month - 1
    while len(out) < count:
        key = period_of(kind, index // 12, index % 12 + 1)
        if key not in out:
            out.append(key)
        index -= step
    return out


def default_period(kind: str) -> str:
    """The period that ended last: the one an office publishes (the current one is still running)."""
    periods = recent_periods(kind, 2)
    return periods[1]


def period_label(key: str | None) -> str:
    """``2026-Q3`` → 2026年第3季度, ``2026-11`` → 2026年11月, ``2026-H2`` → 2026年下半年."""
    if not key:
        return ""
    year, _, part = key.partition("-")
    if not part:
        return f"{year}年度"
    if part.startswith("Q"):
        return f"{year}年第{part[1:]}季度"
    if part.startswith("H"):
        return f"{year}年{'上' if part == 'H1' else '下'}半年"
    return f"{year}年{int(part)}月"


def decimal_of(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, float):
        raise TypeError("scores are decimals, never floats")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def points(value: Any) -> str:
    """A score as written: ``26.7``, ``100`` (no trailing zeros)."""
    d = decimal_of(value)
    return "—" if d is None else _plain(d)


def delta(value: Any) -> str:
    """A change of points with its sign: ``−1``, ``+0.2``, ``0``."""
    d = decimal_of(value)
    if d is None:
        return "—"
    if d == 0:
        return "0"
    text = _plain(abs(d))
    return f"{MINUS}{text}" if d < 0 else f"+{text}"


def percent(value: Any) -> str:
    """A ratio from the API (``0.8125``) as offices write it: ``81.3%``."""
    d = decimal_of(value)
    if d is None:
        return "—"
    return f"{_plain((d * 100).quantize(Decimal('0.1'), ROUND_HALF_UP))}%"


def can_enter(user: User | None) -> bool:
    return user is not None and user.has(*EVALUATORS)


def can_correct(user: User | None) -> bool:
    return user is not None and user.has(*CORRECTORS)


def can_publish(user: User | None) -> bool:
    return user is not None and user.has(*PUBLISHERS)


def consequence_rule(rule: dict[str, Any]) -> str:
    """A ranking definition's consequence as a sentence: 连续2期排名末位 → 诫勉谈话."""
    n = int(rule.get("consecutive") or 1)
    where = POSITIONS.get(str(rule.get("position", "last")), str(rule.get("position")))
    acts = "、".join(ACTIONS.get(a, a) for a in rule.get("actions", []))
    return f"{'连续' + str(n) + '期' if n > 1 else ''}{where} → {acts}"


templates.env.filters["points"] = points
templates.env.filters["delta"] = delta
templates.env.filters["percent"] = percent
templates.env.filters["period_label"] = period_label
templates.env.filters["action_zh"] = lambda v: ACTIONS.get(v, v)
templates.env.filters["subject_kind"] = lambda v: SUBJECT_KINDS.get(v, v)
