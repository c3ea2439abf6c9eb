"""Scoring (when the scoring service is configured): rankings per period (published or a preview,
top and bottom marked, the consequences the service recorded), their CSV/XLSX exports, publishing,
and the projects' warning lights with their reasons. Scorecards and surveys live in their own
modules and hang off this router."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from steward.console.api import Api, gather
from steward.console.views import scorecards, surveys
from steward.console.views.home import today
from steward.console.views.scoring_common import (
    LIGHT_ORDER,
    LIGHTS,
    PERIOD_KINDS,
    can_publish,
    consequence_rule,
    default_period,
    kind_of,
    recent_periods,
)
from steward.console.web import ApiDep, Csrf, UserDep, form_str, redirect, render

router = APIRouter()
Key = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
PeriodP = Annotated[str, Path(pattern=r"^[0-9]{4}(-(0[1-9]|1[0-2]|Q[1-4]|H[12]))?$")]
PeriodQ = Annotated[str | None, Query(pattern=r"^[0-9]{4}(-(0[1-9]|1[0-2]|Q[1-4]|H[12]))?$")]
TenantQ = Annotated[str | None, Query(pattern=r"^[0-9]{6}([0-9]{3}){0,2}$")]


async def _section(api: Api, tenant: str | None) -> dict[str, Any]:
    """The tenant's scorecards, rankings and surveys (from its effective rules); another tenant's
    that the user may not see is the service's 403, not an empty page."""
    if tenant:
        return await api.get("scoring", "/v1/scoring/scorecards", tenant=tenant) or {}
    return await api.maybe("scoring", "/v1/scoring/scorecards", None, tenant=tenant) or {}


async def _district_names(api: Api) -> dict[str, str]:
    """Names of the tenants the user sees (a district ranking names its rows by tenant code)."""
    page = await api.maybe("registry", "/v1/tenants", None) or {}
    return {t["code"]: t["name"] for t in page.get("items", []) if t.get("code")}


async def _nothing() -> dict[str, str]:
    return {}


def _items(lights: Any) -> list[dict[str, Any]]:
    items = lights if isinstance(lights, list) else (lights or {}).get("items", [])
    return sorted(items, key=lambda x: (LIGHT_ORDER.get(x.get("light", ""), 3), x.get("code", "")))


@router.get("/scoring")
async def scoring(
    request: Request,
    user: UserDep,
    api: ApiDep,
    ranking: str | None = None,
    period: PeriodQ = None,
    tenant: TenantQ = None,
) -> Response:
    """A tenant's rankings (the user's own, or a subtree tenant's via ``tenant``: a city office
    follows a district's row of the district ranking to that district's rankings and scorecards)."""
    tenant = None if tenant == user.tenant else tenant
    lights, section = await gather(
        api.maybe("scoring", "/v1/scoring/lights", None, limit=200, tenant=tenant), _section(api, tenant)
    )
    rankings: list[dict[str, Any]] = list(section.get("rankings") or [])
    chosen = next((r for r in rankings if r.get("key") == ranking), rankings[0] if rankings else None)
    table = None
    periods: list[str] = []
    if chosen is not None:
        kind = chosen.get("period", "quarter")
        periods = recent_periods(kind)
        if not period or kind_of(period) != kind:  # a period of another ranking's kind
            period = default_period(kind)
        if period not in periods:
            periods.append(period)
        table, tenants = await gather(
            api.maybe("scoring", f"/v1/scoring/rankings/{chosen['key']}/{period}", None, tenant=tenant),
            _district_names(api) if chosen.get("subject_kind") == "district" else _nothing(),
        )
        for row in (table or {}).get("rows") or []:
            row["subject_name"] = row.get("subject_name") or tenants.get(row.get("subject_id"))
    return render(
        request,
        "scoring.html",
        nav="scoring",
        lights=_items(lights),
        light_names=LIGHTS,
        rankings=rankings,
        chosen=chosen,
        period=period,
        periods=periods,
        period_kinds=PERIOD_KINDS,
        rules=[consequence_rule(c) for c in (chosen or {}).get("consequences", [])],
        table=table,
        tenant=tenant or "",
        tq=f"&tenant={tenant}" if tenant else "",
        cards=section.get("definitions") or [],
        card_periods={
            c["key"]: default_period(c.get("period", "quarter")) for c in section.get("definitions") or []
        },
        can_publish=can_publish(user) and table is not None and not table.get("published"),
    )


@router.get("/scoring/rankings/{key}/{period}/export")
async def export_ranking(
    api: ApiDep,
    key: Key,
    period: PeriodP,
    format: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "xlsx",
    tenant: TenantQ = None,
) -> Response:
    """The service's CSV/XLSX export, passed through with its file name."""
    extra = {"tenant": tenant} if tenant else {}
    resp = await api.raw("scoring", f"/v1/scoring/rankings/{key}/{period}/export", format=format, **extra)
    headers = {k: v for k, v in resp.headers.items() if k.lower() in ("content-type", "content-disposition")}
    return Response(resp.content, headers=headers)


@router.post("/scoring/rankings/{key}/{period}/publish", dependencies=[Csrf])
async def publish_ranking(
    request: Request, user: UserDep, api: ApiDep, key: Key, period: PeriodP
) -> Response:
    form = await request.form()
    tenant = form_str(form, "tenant")
    tenant = tenant if re.fullmatch(r"[0-9]{6}([0-9]{3}){0,2}", tenant) else user.tenant
    await api.post("scoring", f"/v1/scoring/rankings/{key}/{period}/publish", {"tenant": tenant})
    back = f"/scoring?ranking={key}&period={period}" + (f"&tenant={tenant}" if tenant != user.tenant else "")
    return redirect(request, back, flash="排名已发布，结果运用已按规则生成")


@router.get("/scoring/lights")
async def lights_page(
    request: Request,
    user: UserDep,
    api: ApiDep,
    light: Annotated[str | None, Query(pattern="^(red|yellow|green)?$")] = None,
    tenant: TenantQ = None,
) -> Response:
    year = today().year
    lights, rates = await gather(
        api.get("scoring", "/v1/scoring/lights", limit=500, light=light, tenant=tenant),
        api.maybe("scoring", "/v1/scoring/lights/rates", None, year=year, tenant=tenant),
    )
    items = _items(lights)
    return render(
        request,
        "scoring_lights.html",
        nav="scoring",
        lights=items,
        light=light or "",
        light_names=LIGHTS,
        rates=rates,
        year=year,
        tenant=tenant or "",
    )


@router.get("/scoring/lights/{project_id}")
async def light_detail(
    request: Request,
    user: UserDep,
    api: ApiDep,
    project_id: Annotated[str, Path(min_length=1, max_length=64)],
) -> Response:
    light = await api.get("scoring", f"/v1/scoring/lights/{project_id}")
    return render(request, "scoring_light.html", nav="scoring", l=light, light_names=LIGHTS)


router.include_router(scorecards.router)
router.include_router(surveys.router)
