"""Projects: list with the API's filters, detail (dispatch tier and reasons, stage history and
transitions, roster with missing roles, network plan as a Gantt, matters, reports), register,
roster completeness, map."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from steward.console.api import Api, ApiError, gather
from steward.console.fmt import TIERS
from steward.console.projects_common import tenants_of
from steward.console.views import maptiles
from steward.console.web import ApiDep, Csrf, UserDep, form_opt, form_str, redirect, render, settings_of

router = APIRouter()
FILTERS = ("tenant", "stage", "tier", "key_level", "funding_type", "steward_required", "q")
FUNDING = {"enterprise": "企业投资", "government": "政府投资", "ppp": "PPP"}
KEY_LEVELS = {
    "national": "国家重点",
    "provincial": "省重点",
    "city": "市重点",
    "district": "区县重点",
    "none": "一般",
}


@router.get("/projects")
async def project_list(request: Request, user: UserDep, api: ApiDep, cursor: str | None = None) -> Response:
    filters = {k: request.query_params.get(k, "") for k in FILTERS}
    page, tenants = await gather(
        api.get("registry", "/v1/projects", limit=50, cursor=cursor, **filters), tenants_of(api)
    )
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    return render(
        request,
        "projects.html",
        nav="projects",
        items=page.get("items", []),
        next_cursor=page.get("next_cursor"),
        filters=filters,
        query=query,
        tenants=tenants,
        funding=FUNDING,
        key_levels=KEY_LEVELS,
    )


@router.get("/projects/new")
async def new_project(request: Request, user: UserDep, api: ApiDep) -> Response:
    return await _register_form(request, api, {}, None)


async def _register_form(request: Request, api: Api, values: dict[str, str], error: str | None) -> Response:
    tenants, enterprises = await gather(
        tenants_of(api),
        api.maybe("registry", "/v1/units", None, kind="enterprise", limit=200),
    )
    return render(
        request,
        "project_new.html",
        400 if error else 200,
        nav="projects",
        tenants=tenants,
        enterprises=(enterprises or {}).get("items", []),
        values=values,
        error=error,
        funding=FUNDING,
        key_levels=KEY_LEVELS,
    )


@router.post("/projects", dependencies=[Csrf])
async def register(request: Request, user: UserDep, api: ApiDep) -> Response:
    form = await request.form()
    values = {k: form_str(form, k) for k in form if k != "csrf"}
    body: dict[str, Any] = {
        "tenant": values.get("tenant") or user.tenant,
        "name": values.get("name", ""),
        "total_investment": values.get("total_investment", ""),
        "funding_type": values.get("funding_type") or "enterprise",
        "key_level": values.get("key_level") or "none",
        "industry": values.get("industry", ""),
        "major": values.get("major") == "on",
    }
    for key in ("annual_plan_investment", "owner_unit_id", "planned_start", "planned_completion"):
        if form_opt(form, key):
            body[key] = form_opt(form, key)
    try:
        project = await api.post("registry", "/v1/projects", body)
    except ApiError as exc:
        if exc.status in (400, 409, 422):
            return await _register_form(request, api, values, exc.text)
        raise
    tier = project["dispatch"]["tier"]
    return redirect(
        request,
        f"/projects/{project['code']}",
        flash=f"已登记，项目代码 {project['code']}，{TIERS.get(tier, tier)}",
    )


@router.get("/projects/rosters")
async def rosters(request: Request, user: UserDep, api: ApiDep, tenant: str | None = None) -> Response:
    data = await api.get("registry", "/v1/rosters/completeness", tenant=tenant, limit=200)
    return render(request, "rosters.html", nav="projects", data=data)


@router.get("/projects/map")
async def project_map(request: Request, user: UserDep, api: ApiDep) -> Response:
    filters = {k: request.query_params.get(k, "") for k in FILTERS}
    data = await api.get("registry", "/v1/map/projects", limit=500, **filters)
    features = [f for f in data.get("features", []) if f.get("geometry")]
    template = settings_of(request).map_tile_url
    if template and features:  # base tiles laid out on the server (views/maptiles.py)
        laid = maptiles.layout(template, features, settings_of(request).map_tile_max_zoom)
        return render(
            request, "project_map.html", nav="projects", features=features, points=laid["points"], tiles=laid
        )
    points = []
    if features:
        lons = [f["geometry"]["coordinates"][0] for f in features]
        lats = [f["geometry"]["coordinates"][1] for f in features]
        lo_x, hi_x, lo_y, hi_y = min(lons), max(lons), min(lats), max(lats)
        span_x, span_y = (hi_x - lo_x) or 0.01, (hi_y - lo_y) or 0.01
        for f, x, y in zip(features, lons, lats, strict=True):
            points.append(
                {
                    "left": 5 + 90 * (x - lo_x) / span_x,
                    "top": 5 + 90 * (hi_y - y) / span_y,
                    "props": f.get("properties", {}),
                }
            )
    return render(request, "project_map.html", nav="projects", points=points, features=features)


@router.get("/projects/{code}")
async def project_detail(request: Request, code: str, user: UserDep, api: ApiDep) -> Response:
    project = await api.get("registry", f"/v1/projects/{code}")
    history, roster, plan, matters, reports, people = await gather(
        api.maybe("registry", f"/v1/projects/{code}/history", None),
        api.maybe("registry", f"/v1/projects/{code}/roster", None),
        api.maybe("registry", f"/v1/projects/{code}/plan", None),
        api.maybe("issues", "/v1/matters", None, project_id=project["id"], limit=100),
        api.maybe("registry", "/v1/reports", None, project=project["id"], limit=24),
        api.maybe("registry", "/v1/people", None, tenant=project["tenant"], limit=200)
        if user.can_dispatch
        else _none(),
    )
    return render(
        request,
        "project_detail.html",
        nav="projects",
        p=project,
        history=history or {},
        roster=roster,
        plan=plan,
        gantt=_gantt(plan),
        matters=(matters or {}).get("items", []),
        reports=(reports or {}).get("items", []),
        people=(people or {}).get("items", []),
        funding=FUNDING,
        key_levels=KEY_LEVELS,
    )


async def _none() -> None:
    return None


def _gantt(plan: dict[str, Any] | None) -> dict[str, Any] | None:
    """Bars positioned in percent of the plan's span (pure CSS, no chart library)."""
    tasks = (plan or {}).get("tasks") or []
    if not tasks:
        return None
    days = [date.fromisoformat(t[k]) for t in tasks for k in ("start", "end", "actual") if t.get(k)]
    if plan and plan.get("as_of"):
        days.append(date.fromisoformat(plan["as_of"]))
    lo, hi = min(days), max(days)
    span = max((hi - lo).days, 1)
    rows = []
    for t in tasks:
        start = date.fromisoformat(t["start"])
        end = date.fromisoformat(t.get("actual") or t["end"])
        rows.append(
            {
                "task": t,
                "left": 100 * (start - lo).days / span,
                "width": max(100 * (end - start).days / span, 0.8),
                "cls": "done" if t["status"] == "done" else ("late" if t.get("days_late") else ""),
            }
        )
    today = None
    if plan and plan.get("as_of"):
        today = 100 * (date.fromisoformat(plan["as_of"]) - lo).days / span
    return {"rows": rows, "from": lo, "to": hi, "today": today}


@router.post("/projects/{code}/transitions", dependencies=[Csrf])
async def transition(request: Request, code: str, user: UserDep, api: ApiDep) -> Response:
    form = await request.form()
    body = {"to_stage": form_str(form, "to_stage"), "reason": form_str(form, "reason")}
    try:
        await api.post("registry", f"/v1/projects/{code}/transitions", body)
    except ApiError as exc:
        if exc.status >= 500 or exc.status == 401:
            raise
        return redirect(request, f"/projects/{code}", flash=f"未能变更阶段：{exc.text}")
    return redirect(request, f"/projects/{code}", flash="阶段已变更")


@router.post("/projects/{code}/roster", dependencies=[Csrf])
async def assign(request: Request, code: str, user: UserDep, api: ApiDep) -> Response:
    form = await request.form()
    body = {"role_key": form_str(form, "role_key"), "person_id": form_opt(form, "person_id")}
    try:
        await api.post("registry", f"/v1/projects/{code}/roster", body)
    except ApiError as exc:
        if exc.status >= 500 or exc.status == 401:
            raise
        return redirect(request, f"/projects/{code}", flash=f"未能指派：{exc.text}")
    return redirect(request, f"/projects/{code}", flash="已指派")


# the edit form lives in its own module; its routes are served with these
from steward.console.views import project_edit  # noqa: E402

router.include_router(project_edit.router)
