"""Reports: the enterprise contact's submission form for the open periods, due dates with holiday
shifts, per-project status and the summary export for offices."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from steward.console.api import Api, ApiError, gather
from steward.console.views.home import today
from steward.console.web import ApiDep, Csrf, UserDep, form_str, redirect, render
from steward.rules.base import Applicability, ProjectFacts

router = APIRouter()
STATUS = {"on_time": "按时", "late": "迟报", "missing": "未报", "pending": "未到期"}


async def _schedules(api: Api, tenant: str) -> list[dict[str, Any]]:
    start = (today() - timedelta(days=45)).isoformat()
    end = (today() + timedelta(days=62)).isoformat()
    data = (
        await api.maybe(
            "registry", "/v1/reports/schedules", None, tenant=tenant, **{"from": start, "to": end}
        )
        or {}
    )
    return list(data.get("schedules", []))


def applies(condition: dict[str, Any], project: dict[str, Any]) -> bool:
    """Whether a schedule's ``applies_when`` holds for a project (the rules' own evaluation; an
    unknown milestone counts as reached: the registry refuses the report if it is not)."""
    try:
        cond = Applicability.model_validate(condition or {})
        dispatch = project.get("dispatch") or {}
        flags = {f for f in ("on_platform", "steward_required", "named_responsibility") if dispatch.get(f)}
        facts = ProjectFacts.model_validate(
            {
                "investment": project.get("total_investment") or "0",
                "funding_type": project.get("funding_type") or "enterprise",
                "tier": dispatch.get("tier") or "none",
                "key_level": project.get("key_level") or "none",
                "stage": project.get("stage") or "negotiating",
                "major": bool(project.get("major")),
                "flags": flags,
                "milestones": {cond.from_milestone} if cond.from_milestone else set(),
            }
        )
    except ValueError:
        return True
    return cond.matches(facts)


def _open_periods(schedules: list[dict[str, Any]], projects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """(project, period) pairs a report may be sent for now: the schedule applies to the project,
    the period has started, and it was due no more than ~a month ago."""
    now = today().isoformat()
    floor = (today() - timedelta(days=35)).isoformat()
    out = []
    for s in schedules:
        for project in projects:
            if not applies(s.get("applies_when") or {}, project):
                continue
            for p in s.get("periods", []):
                if p["start"] <= now and p["due_date"] >= floor:
                    out.append({**p, "name_zh": s.get("name_zh") or s["key"], "project": project})
    out.sort(key=lambda p: (p["project"]["code"], p["due_date"], p["schedule_key"]))
    out.sort(key=lambda p: p["due_date"], reverse=True)  # the latest period first, per project order kept
    return out


@router.get("/reports")
async def reports(
    request: Request,
    user: UserDep,
    api: ApiDep,
    period: str | None = None,
    schedule: str | None = None,
    tenant: str | None = None,
) -> Response:
    home_tenant = tenant or user.tenant
    projects_page, recent, home_schedules = await gather(
        api.maybe("registry", "/v1/projects", None, limit=200),
        api.maybe("registry", "/v1/reports", None, limit=50),
        _schedules(api, home_tenant),
    )
    projects = (projects_page or {}).get("items", [])
    recent = recent or {}
    if not user.is_enterprise:
        first = next((s for s in home_schedules), None)
        schedule = schedule or (first["key"] if first else None)
        if schedule and not period:
            chosen = next((s for s in home_schedules if s["key"] == schedule), None)
            started = [p for p in (chosen or {}).get("periods", []) if p["start"] <= today().isoformat()]
            period = started[-1]["period"] if started else None
    tenants = sorted({p["tenant"] for p in projects} - {home_tenant})
    wants_status = not user.is_enterprise and schedule and period
    status, *per_tenant = await gather(
        api.maybe("registry", "/v1/reports/status", None, period=period, schedule=schedule, tenant=tenant)
        if wants_status
        else _none(),
        *(_schedules(api, t) for t in tenants),
    )
    schedules = {home_tenant: home_schedules, **dict(zip(tenants, per_tenant, strict=True))}
    sent = {(r["project_code"], r["schedule_key"], r["period"]) for r in recent.get("items", [])}
    last_cumulative: dict[str, str] = {}
    for r in recent.get("items", []):  # latest due first
        last_cumulative.setdefault(r["project_code"], r["investment_cumulative"])
    open_periods = [
        p
        for t, s in schedules.items()
        for p in _open_periods(s, [x for x in projects if x["tenant"] == t])
        if (p["project"]["code"], p["schedule_key"], p["period"]) not in sent
    ]
    return render(
        request,
        "reports.html",
        nav="reports",
        projects=projects,
        open_periods=open_periods,
        schedules=home_schedules,
        recent=recent.get("items", [])[:20],
        status=status,
        period=period,
        schedule=schedule,
        status_labels=STATUS,
        today_iso=today().isoformat(),
        last_cumulative=last_cumulative,
    )


async def _none() -> None:
    return None


@router.post("/reports", dependencies=[Csrf])
async def submit(request: Request, user: UserDep, api: ApiDep) -> Response:
    form = await request.form()
    project, schedule_key, period = [*form_str(form, "period").split("|"), "", "", ""][:3]
    body = {
        "project": project,
        "schedule_key": schedule_key,
        "period": period,
        "investment_period": form_str(form, "investment_period"),
        "investment_cumulative": form_str(form, "investment_cumulative"),
        "progress_text": form_str(form, "progress_text"),
        "problems_text": form_str(form, "problems_text"),
    }
    try:
        report = await api.post("registry", "/v1/reports", body)
    except ApiError as exc:
        if exc.status >= 500 or exc.status == 401:
            raise
        return redirect(request, "/reports", flash=f"未能报送：{exc.text}")
    label = STATUS.get(report.get("status", ""), report.get("status", ""))
    return redirect(request, "/reports", flash=f"已报送 {report['period']} 期报告（{label}）")


@router.get("/reports/export")
async def export(
    request: Request, user: UserDep, api: ApiDep, period: str, schedule: str, tenant: str | None = None
) -> Response:
    resp = await api.raw(
        "registry",
        "/v1/reports/summary/export",
        period=period,
        schedule=schedule,
        tenant=tenant or "",
        format="xlsx",
    )
    return Response(
        resp.content,
        media_type=resp.headers.get("content-type", "application/octet-stream"),
        headers={"Content-Disposition": resp.headers.get("content-disposition", "attachment")},
    )
