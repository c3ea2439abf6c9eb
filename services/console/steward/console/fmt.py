"""Chinese formatting for templates: dates (2026年10月12日), money (2,500万元 / 1.2亿元), labels."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
WAN = Decimal(10_000)
YI = Decimal(100_000_000)
WEEKDAYS = "一二三四五六日"


def _parse_dt(value: Any) -> datetime | date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime | date):
        return value
    text = str(value)
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _local(value: datetime | date) -> datetime | date:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(SHANGHAI)
    return value


def cn_date(value: Any) -> str:
    """``2026-10-12`` / an ISO timestamp -> ``2026年10月12日`` (Beijing time)."""
    parsed = _parse_dt(value)
    if parsed is None:
        return "—" if not value else str(value)
    parsed = _local(parsed)
    return f"{parsed.year}年{parsed.month}月{parsed.day}日"


def cn_datetime(value: Any) -> str:
    parsed = _parse_dt(value)
    if parsed is None:
        return "—" if not value else str(value)
    parsed = _local(parsed)
    if not isinstance(parsed, datetime):
        return cn_date(parsed)
    return f"{parsed.year}年{parsed.month}月{parsed.day}日 {parsed.hour:02d}:{parsed.minute:02d}"


def cn_weekday(value: Any) -> str:
    parsed = _parse_dt(value)
    if parsed is None:
        return ""
    parsed = _local(parsed)
    return "周" + WEEKDAYS[parsed.weekday()]


def shift_fact(period: dict[str, Any]) -> str:
    """Why a due date moved, as an office writes it: ``10月25日为周日，提前至10月23日``."""
    if not period or not period.get("shifted"):
        return ""
    nominal, due = _parse_dt(period.get("nominal_due")), _parse_dt(period.get("due_date"))
    if not isinstance(nominal, date) or not isinstance(due, date):
        return str(period.get("shift_reason") or "")
    why = "周" + WEEKDAYS[nominal.weekday()] if nominal.weekday() >= 5 else "法定节假日"
    move = "提前" if due < nominal else "顺延"
    return f"{nominal.month}月{nominal.day}日为{why}，{move}至{due.month}月{due.day}日"


def _trim(amount: Decimal, places: int) -> str:
    q = amount.quantize(Decimal(1).scaleb(-places))
    text = f"{q:,.{places}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def money(value: Any) -> str:
    """Yuan (Decimal or decimal string, never float) as an office writes it: ``2,500万元``,
    ``1.2亿元``, ``8,600元``."""
    if value is None or value == "":
        return "—"
    if isinstance(value, float):
        raise TypeError("money is never a float")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if amount >= YI:
        return f"{_trim(amount / YI, 4)}亿元"
    if amount >= WAN:
        return f"{_trim(amount / WAN, 2)}万元"
    return f"{_trim(amount, 2)}元"


STAGES = {
    "negotiating": "在谈",
    "signed": "签约",
    "preparing": "前期",
    "new_start": "新开工",
    "continuing": "续建",
    "completed": "竣工",
    "operating": "投产运营",
    "suspended": "暂停",
    "terminated": "终止",
}
TIERS = {"none": "不调度", "zone": "园区调度", "district": "区级调度", "city": "市级调度", "unit": "责任单位"}
MATTER_KINDS = {
    "obstacle": "问题",
    "procedure": "审批手续",
    "decision": "会议决定",
    "complaint": "投诉",
}
MATTER_STATUS = {
    "filed": "待分拣",
    "accepted": "已受理",
    "in_progress": "办理中",
    "returned": "已退回",
    "resolved": "已办结待确认",
    "confirmed": "已确认",
    "closed": "已关闭",
    "rejected": "不予受理",
}
ROLES = {
    "platform_admin": "平台管理员",
    "tenant_admin": "本级管理员",
    "dispatcher": "调度员",
    "specialist": "项目专员",
    "liaison": "联络员",
    "steward": "项目管家",
    "agent": "代办员",
    "leader": "包保领导",
    "supervisor": "督查人员",
    "enterprise_contact": "企业联系人",
    "auditor": "审计",
    "agency": "部门订阅",
}


def label(table: dict[str, str], value: Any) -> str:
    if value is None:
        return "—"
    return table.get(str(value), str(value))


def register(env: Any) -> None:
    env.filters["cn_date"] = cn_date
    env.filters["cn_datetime"] = cn_datetime
    env.filters["cn_weekday"] = cn_weekday
    env.filters["money"] = money
    env.filters["shift_fact"] = shift_fact
    env.filters["stage"] = lambda v: label(STAGES, v)
    env.filters["tier"] = lambda v: label(TIERS, v)
    env.filters["matter_kind"] = lambda v: label(MATTER_KINDS, v)
    env.filters["matter_status"] = lambda v: label(MATTER_STATUS, v)
    env.filters["role"] = lambda v: label(ROLES, v)
    env.globals["STAGES"] = STAGES
    env.globals["TIERS"] = TIERS
    env.globals["ROLES"] = ROLES
    env.globals["MATTER_STATUS"] = MATTER_STATUS
    env.globals["MATTER_KINDS"] = MATTER_KINDS
