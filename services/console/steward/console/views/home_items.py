"""工作台's "waiting for me" sections, each read from the service that owns it (and only when that
service is configured): topics waiting for my signature and minutes waiting for my 签收 (meetings),
procedures waiting for my unit (issues, from the unit's queue), open rectifications and unanswered surveys for supervisors
and the projects' investment progress this year (scoring). Each fetcher yields ``None`` when the
section does not apply to the user, so the page leaves it out."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from steward.console.api import Api, gather
from steward.console.session import User

SIGNABLE = ("submitted", "compiled")
MINUTES_MEETINGS = 4  # the latest held meetings whose minutes are checked for my 签收
SUPERVISORS = ("supervisor", "tenant_admin", "platform_admin")
PROGRESS_PROJECTS = 8


def signoff_allowed(user: User, role: str, unit_id: str | None) -> bool:
    """The meetings service's rule: unit head = a leader of the submitting unit; leader in charge =
    a leader of another unit (the service still decides when the leader signs)."""
    if not user.has("leader"):
        return False
    same_unit = unit_id is not None and user.unit == unit_id
    return (unit_id is None or same_unit) if role == "unit_head" else not same_unit


def topics_to_sign(user: User, topics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for t in topics:
        if t.get("status") not in SIGNABLE:
            continue
        if any(s.get("subject") == user.sub for s in t.get("signoffs", [])):
            continue  # one person never signs both
        roles = [r for r in t.get("missing_signoffs", []) if signoff_allowed(user, r, t.get("unit_id"))]
        if roles:
            out.append({**t, "my_roles": roles})
    return out


async def signatures(api: Api, user: User) -> list[dict[str, Any]] | None:
    if not api.services.available("meetings") or not user.has("leader"):
        return None
    page = await api.maybe("meetings", "/v1/topics", None, backlog="true", limit=100) or {}
    return topics_to_sign(user, page.get("items", []))


def minutes_waiting(user: User, meetings: list[dict[str, Any]], minutes: list[Any]) -> list[dict[str, Any]]:
    out = []
    for m, mi in zip(meetings, minutes, strict=True):
        if not mi or mi.get("status") != "issued":
            continue
        for r in mi.get("recipients", []):
            if r.get("subject") == user.sub and not r.get("acknowledged_at"):
                out.append({"meeting": m, "minutes": mi})
                break
    return out


async def acknowledgements(api: Api, user: User) -> list[dict[str, Any]] | None:
    if not api.services.available("meetings"):
        return None
    page = await api.maybe("meetings", "/v1/meetings", None, status="held", limit=MINUTES_MEETINGS) or {}
    held = page.get("items", [])
    minutes = await gather(*(api.maybe("meetings", f"/v1/meetings/{m['id']}/minutes", None) for m in held))
    return minutes_waiting(user, held, minutes)


def procedures(my_unit: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """My unit's open approval procedures (代办), read from my unit's queue (no extra call)."""
    if my_unit is None:
        return None
    return [m for m in my_unit.get("items", []) if m.get("kind") == "procedure"]


def open_rectifications(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    live = [r for r in items if r.get("status") != "closed" and not r.get("closed_at")]
    return sorted(live, key=lambda r: (not r.get("overdue"), r.get("due_at") or ""))


def unanswered_surveys(items: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    stamp = now.isoformat()
    return [s for s in items if not s.get("answered_at") and _utc(s.get("expires_at")) > stamp]


def _utc(value: Any) -> str:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC).isoformat()
    except ValueError:
        return ""


async def supervision(api: Api, user: User) -> dict[str, list[dict[str, Any]]] | None:
    if not api.services.available("scoring") or not user.has(*SUPERVISORS):
        return None
    rects, surveys = await gather(
        api.maybe("scoring", "/v1/scoring/rectifications", None, limit=100),
        api.maybe("scoring", "/v1/scoring/surveys", None, limit=100),
    )
    if rects is None and surveys is None:
        return None  # the service refused this user
    return {
        "rectifications": open_rectifications(rects or [])[:10],
        "surveys": unanswered_surveys(surveys or [], datetime.now(UTC))[:10],
    }


def _dec(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None


def investment_progress(lights: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The projects with an annual plan, largest plan first: this year's investment against the plan
    (exact decimals; the bar's width is a rounded percentage)."""
    rows: list[dict[str, Any]] = []
    for item in lights:
        plan, done = _dec(item.get("annual_plan")), _dec(item.get("investment_year"))
        if not plan or plan <= 0:
            continue
        done = done or Decimal(0)
        rate = done / plan * 100
        rows.append(
            {
                "code": item.get("code"),
                "name": item.get("name"),
                "light": item.get("light"),
                "plan": plan,
                "done": done,
                "rate": rate.quantize(Decimal("1")),
                "width": min(int(rate), 100),
            }
        )
    rows.sort(key=lambda r: Decimal(r["plan"]), reverse=True)
    return rows[:PROGRESS_PROJECTS]


async def progress(api: Api, user: User) -> list[dict[str, Any]] | None:
    if not api.services.available("scoring") or user.is_enterprise:
        return None
    lights = await api.maybe("scoring", "/v1/scoring/lights", None, limit=1000)
    return None if lights is None else investment_progress(lights)
