"""Scoring (when the scoring service is configured): the projects' warning lights and the tenant's
rankings for the current period (published, or a preview)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from steward.console.api import gather
from steward.console.views.home import today
from steward.console.web import ApiDep, UserDep, render

router = APIRouter()
LIGHTS = {"red": "红灯", "yellow": "黄灯", "green": "绿灯"}


def current_period(kind: str) -> str:
    d = today()
    if kind == "month":
        return f"{d.year}-{d.month:02d}"
    if kind == "quarter":
        return f"{d.year}-Q{(d.month - 1) // 3 + 1}"
    if kind == "half_year":
        return f"{d.year}-H{1 if d.month <= 6 else 2}"
    return str(d.year)


@router.get("/scoring")
async def scoring(
    request: Request, user: UserDep, api: ApiDep, ranking: str | None = None, period: str | None = None
) -> Response:
    lights, cards = await gather(
        api.maybe("scoring", "/v1/scoring/lights", None, limit=200),
        api.maybe("scoring", "/v1/scoring/scorecards", None),
    )
    rankings: list[dict[str, Any]] = list((cards or {}).get("rankings") or [])
    chosen = next((r for r in rankings if r.get("key") == ranking), rankings[0] if rankings else None)
    table = None
    if chosen is not None:
        period = period or current_period(chosen.get("period", "quarter"))
        table = await api.maybe("scoring", f"/v1/scoring/rankings/{chosen['key']}/{period}", None)
    items = lights if isinstance(lights, list) else (lights or {}).get("items", [])
    order = {"red": 0, "yellow": 1, "green": 2}
    return render(
        request,
        "scoring.html",
        nav="scoring",
        lights=sorted(items, key=lambda x: (order.get(x.get("light", ""), 3), x.get("code", ""))),
        light_names=LIGHTS,
        rankings=rankings,
        chosen=chosen,
        period=period,
        table=table,
    )
