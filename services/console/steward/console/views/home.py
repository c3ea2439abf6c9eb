"""工作台: my matters due soon / overdue / waiting for me (topics to sign, minutes to acknowledge,
procedures of my unit, rectifications and surveys), counts for my tenant, reports due, the projects'
investment progress, recent notifications (live over SSE, polled as a fallback)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from steward.console.api import Api, gather
from steward.console.fmt import SHANGHAI
from steward.console.views import home_items
from steward.console.views.meetings_common import SIGNOFF_ROLE
from steward.console.web import ApiDep, UserDep, render

router = APIRouter()
DUE_SOON_DAYS = 7


def today() -> date:
    return datetime.now(SHANGHAI).date()


def _count(page: dict[str, Any] | None) -> str:
    if not page:
        return "—"
    n = len(page.get("items", []))
    return f"{n}+" if page.get("next_cursor") else str(n)


async def _next_reports(api: Api, tenant: str) -> list[dict[str, Any]]:
    data = await api.maybe("registry", "/v1/reports/schedules", None, tenant=tenant) or {}
    out = []
    for sched in data.get("schedules", []):
        upcoming = [p for p in sched.get("periods", []) if p.get("due_date", "") >= today().isoformat()]
        if upcoming:
            period = dict(upcoming[0])
            period["name_zh"] = sched.get("name_zh") or sched.get("key")
            out.append(period)
    out.sort(key=lambda p: p.get("due_date", ""))
    return out


@router.get("/")
async def home(request: Request, user: UserDep, api: ApiDep) -> Response:
    # every call at once: the page waits for the slowest service, not their sum
    (
        open_page,
        overdue_page,
        my_unit,
        projects,
        unread,
        inbox,
        reports,
        to_sign,
        to_ack,
        supervision,
        progress,
    ) = await gather(
        api.maybe("issues", "/v1/matters", None, open_only="true", limit=100),
        api.maybe("issues", "/v1/matters/queues/overdue", None, limit=100),
        api.maybe("issues", "/v1/matters/queues/my-unit", None, limit=100) if user.unit else _none(),
        api.maybe("registry", "/v1/projects", None, limit=50),
        api.maybe("notify", "/v1/inbox/unread-count", None),
        api.maybe("notify", "/v1/inbox", None, limit=6),
        _next_reports(api, user.tenant),
        home_items.signatures(api, user),
        home_items.acknowledgements(api, user),
        home_items.supervision(api, user),
        home_items.progress(api, user),
    )
    open_items = (open_page or {}).get("items", [])
    horizon = (today() + timedelta(days=DUE_SOON_DAYS)).isoformat()
    due_soon = sorted(
        (m for m in open_items if not m.get("overdue") and m.get("due_date") and m["due_date"] <= horizon),
        key=lambda m: m["due_date"],
    )
    overdue = (overdue_page or {}).get("items")
    if overdue is None:
        overdue = [m for m in open_items if m.get("overdue")]
    counts = {
        "projects": _count(projects),
        "open": _count(open_page),
        "overdue": str(len(overdue)) if overdue_page is None else _count(overdue_page),
        "roster": None if user.is_enterprise else "…",  # loaded after the page (htmx): the slowest count
        "unread": str((unread or {}).get("unread", 0)),
    }
    return render(
        request,
        "home.html",
        nav="home",
        counts=counts,
        due_soon=due_soon[:10],
        overdue=sorted(overdue, key=lambda m: m.get("due_date") or "")[:10],
        my_unit=(my_unit or {}).get("items", [])[:10],
        has_unit_queue=my_unit is not None,
        inbox=(inbox or {}).get("items", []),
        reports=reports,
        to_sign=to_sign,
        signoff_role=SIGNOFF_ROLE,
        to_ack=to_ack,
        procedures=home_items.procedures(my_unit),
        supervision=supervision,
        progress=progress,
        today=today(),
    )


async def _none() -> None:
    return None


@router.get("/partials/roster-count")
async def roster_count(request: Request, user: UserDep, api: ApiDep) -> Response:
    """The number of projects with missing roster roles (the home page loads it after rendering)."""
    data = await api.maybe("registry", "/v1/rosters/completeness", None, limit=200)
    return HTMLResponse(str(data.get("incomplete", 0)) if data else "—")
