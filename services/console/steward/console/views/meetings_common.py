"""What the meetings pages share: Chinese labels for the meetings service's codes, the working-day
facts of a meeting's cut-offs, the look-ups of the registry the forms need, and the way a refused
action comes back to the page (the service's message as a flash)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from steward.console.api import Api, ApiError, gather
from steward.console.fmt import WEEKDAYS, _local, _parse_dt
from steward.console.session import User
from steward.console.web import redirect

MEETING_STATUS = {
    "scheduled": "待召开",
    "compiled": "议程已汇总",
    "held": "已召开",
    "cancelled": "已取消",
    "skipped": "节假日停开",
}
KIND = {"regular": "例会", "ad_hoc": "临时协调会议"}
TOPIC_STATUS = {
    "submitted": "已申报",
    "compiled": "已列入议程",
    "discussed": "已研究",
    "withdrawn": "已撤回",
}
SIGNOFF_ROLE = {"unit_head": "单位主要领导", "leader_in_charge": "分管县级领导"}
# the attendance statuses of the meetings service (出席情况), in the order of the form
ATTENDANCE = {
    "present": "出席",
    "late": "迟到",
    "leave": "请假",
    "deputy": "委派代表参会",
    "absent": "缺席",
    "observer": "列席",
}
SUPERVISION_STATE = {
    "done": "已办结",
    "in_progress": "办理中",
    "overdue": "已逾期",
    "not_filed": "立项中",
    "unknown": "未查到",
}
MINUTES_STATUS = {"draft": "草稿（待主持人签发）", "signed": "主持人已签发（待下发）", "issued": "已下发"}
# the meetings service's refusals, as the offices say them (its English message otherwise)
REFUSALS = {
    "organizer_required": "只有重点项目办（调度员、地区管理员）可以操作",
    "role_required": "当前角色不能申报议题",
    "signoff_role_required": "单位主要领导须为申报单位的领导；分管县级领导须为其他单位的领导",
    "signoff_not_required": "本会议系列的规则不要求这一签字",
    "already_signed": "该身份已签字",
    "same_signer": "同一人不能两项都签",
    "topic_closed": "议题已列入议程、已研究或已撤回",
    "meeting_closed": "会议已召开、已取消或停开",
    "deadline_passed": "已过申报截止时间，且没有下次会议",
    "other_series": "只能列入同一会议系列的会议",
    "not_submitter": "只有申报人或重点项目办可以撤回",
    "meeting_not_held": "会议结束记录后才能起草纪要",
    "minutes_issued": "会议纪要已下发，记录已关闭",
    "chair_required": "只有会议主持人可以签发会议纪要",
    "not_a_draft": "会议纪要不是待签发的草稿",
    "chair_signoff_missing": "主持人尚未签发会议纪要",
    "not_issued": "会议纪要尚未下发",
    "not_a_recipient": "您不在会议纪要的分送范围内",
    "reason_required": "请假须填写事由",
    "deputy_required": "委派代表参会须填写代为参会人员",
    "duplicate_person": "同一人员填写了两次",
    "invalid_due_date": "完成时限须在会议当天（或今天）至三年之内",
    "invalid_time": "时间须在昨天至一年之内",
    "ad_hoc_not_allowed": "本会议系列的规则不允许召开临时会议",
    "tenant_out_of_scope": "所选地区不在您的管辖范围内",
}
ORGANIZER_ROLES = ("platform_admin", "tenant_admin", "dispatcher")
SUBMITTER_ROLES = (*ORGANIZER_ROLES, "leader", "specialist", "liaison", "steward", "agent")
OPEN = ("scheduled", "compiled")


def is_organizer(user: User) -> bool:
    """发改局重点项目办: the roles the meetings service lets compile, record and issue."""
    return user.has(*ORGANIZER_ROLES)


def can_submit(user: User) -> bool:
    return user.has(*SUBMITTER_ROLES)


def labels(table: dict[str, str], values: Any) -> str:
    return "、".join(table.get(str(v), str(v)) for v in values or [])


def _day_fact(nominal: date, actual: date) -> str:
    """``10月6日为法定节假日，提前至9月30日`` (why a cut-off day moved)."""
    why = "周" + WEEKDAYS[nominal.weekday()] if nominal.weekday() >= 5 else "法定节假日"
    move = "提前" if actual < nominal else "顺延"
    return f"{nominal.month}月{nominal.day}日为{why}，{move}至{actual.month}月{actual.day}日"


def _weekday_before(day: date, weekday: int) -> date:
    """The last ``weekday`` strictly before ``day`` (as the meetings service counts it)."""
    return day - timedelta(days=(day.weekday() - weekday) % 7 or 7)


def cutoff_facts(m: dict[str, Any], spec: dict[str, Any] | None) -> dict[str, str]:
    """The working-day facts of a regular meeting: when topics are due (申报截止) and compiled
    (汇总), each with why it moved when the rules' weekday was not a working day."""
    out: dict[str, str] = {}
    regular = _parse_dt(m.get("regular_date"))
    if not spec or not isinstance(regular, date) or m.get("kind") != "regular":
        return out
    deadline = _parse_dt(m.get("agenda_deadline_at"))
    rule = spec.get("agenda_deadline") or {}
    if deadline is not None and "weekday" in rule:
        local = _local(deadline)
        day = local.date() if hasattr(local, "date") else local
        nominal = _weekday_before(regular, int(rule["weekday"]))
        out["deadline_rule"] = (
            f"会前周{WEEKDAYS[int(rule['weekday'])]} {str(rule.get('time', '17:00'))[:5]}前报送"
        )
        if day != nominal:
            out["deadline_shift"] = _day_fact(nominal, day)
    compile_due = _parse_dt(m.get("compile_due"))
    if isinstance(compile_due, date) and "compile_weekday" in spec:
        nominal = _weekday_before(regular, int(spec["compile_weekday"]))
        if compile_due != nominal:
            out["compile_shift"] = _day_fact(nominal, compile_due)
    return out


async def series_spec(api: Api, m: dict[str, Any]) -> dict[str, Any] | None:
    if not m.get("series_id"):
        return None
    s = await api.maybe("meetings", f"/v1/series/{m['series_id']}", None)
    return (s or {}).get("spec")


async def directory(api: Api, tenant: str) -> dict[str, list[dict[str, Any]]]:
    """The tenant's departments, people and projects (registry) for the forms' choices."""
    units, people, projects = await gather(
        api.maybe("registry", "/v1/units", None, tenant=tenant, limit=200),
        api.maybe("registry", "/v1/people", None, tenant=tenant, limit=200),
        api.maybe("registry", "/v1/projects", None, tenant=tenant, limit=200),
    )
    unit_rows = [u for u in (units or {}).get("items", []) if u.get("tenant", tenant) == tenant]
    names = {u["id"]: u["name"] for u in unit_rows}
    staff = [p for p in (people or {}).get("items", []) if p.get("tenant", tenant) == tenant]
    for p in staff:
        p["unit_name"] = names.get(p.get("unit_id") or "", "")
    return {
        "units": [u for u in unit_rows if u.get("kind") != "enterprise"],
        "people": [p for p in staff if p.get("subject")],
        "projects": list((projects or {}).get("items", [])),
    }


def refused(request: Request, url: str, what: str, exc: ApiError) -> Response:
    """A 4xx from the meetings service: back to the page with its reason (5xx and 401 propagate)."""
    if exc.status >= 500 or exc.status == 401:
        raise exc
    return redirect(request, url, flash=f"未能{what}：{refusal(exc)}")


def refusal(exc: ApiError) -> str:
    return REFUSALS.get(exc.code, exc.text)
