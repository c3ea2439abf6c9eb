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
    return _Applicability().applies(condition, project)


class _Applicability:
    """:func:`applies` for many (schedule, project) pairs: each condition and each project's facts
    are validated once per request, not once per pair."""

    def __init__(self) -> None:
        self.conditions: dict[str, Applicability | None] = {}
        self.facts: dict[tuple[str, str | None], ProjectFacts | None] = {}

    def applies(self, condition: dict[str, Any], project: dict[str, Any]) -> bool:
        key = repr(sorted((condition or {}).items()))
        if key not in self.conditions:
            try:
                self.conditions[key] = Applicability.model_validate(condition or {})
            except ValueError:
                self.conditions[key] = None
        cond = self.conditions[key]
        if cond is None:
            return True
        fkey = (str(project.get("code") or id(project)), cond.from_milestone)
        if fkey not in self.facts:
            self.facts[fkey] = _facts(project, cond.from_milestone)
        facts = self.facts[fkey]
        return True if facts is None else cond.matches(facts)


def _facts(project: dict[str, Any], milestone: str | None) -> ProjectFacts | None:
    dispatch = project.get("dispatch") or {}
    flags = {f for f in ("on_platform", "steward_required", "named_responsibility") if dispatch.get(f)}
    try:
        return ProjectFacts.model_validate(
            {
                "investment": project.get("total_investment") or "0",
                "funding_type": project.get("funding_type") or "enterprise",
                "tier": dispatch.get("tier") or "none",
                "key_level": project.get("key_level") or "none",
                "stage": project.get("stage") or "negotiating",
                "major": bool(project.get("major")),
                "flags": flags,
                "milestones": {milestone} if milestone else set(),
            }
        )
    except ValueError:
        return None


def _open_periods(
    schedules: list[dict[str, Any]], projects: list[dict[str, Any]], rules: _Applicability | None = None
) -> list[dict[str, Any]]:
    """(project, period) pairs a report may be sent for now: the schedule applies to the project,
    the period has started, and it was due no more than ~a month ago."""
    rules = rules or _Applicability()
    now = today().isoformat()
    floor = (today() - timedelta(days=35)).isoformat()
    out: list[dict[str, Any]] = []
    for s in schedules:
        periods = [p for p in s.get("periods", []) if p["start"] <= now and p["due_date"] >= floor]
        if not periods:  # nothing open: no need to ask which projects it applies to
            continue
        name = s.get("name_zh") or s["key"]
        for project in projects:
            if rules.applies(s.get("applies_when") or {}, project):
                out.extend({**p, "name_zh": name, "project": project} for p in periods)
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
    chosen: dict[str, str | None] = {"schedule": schedule, "period": period}

    async def home() -> tuple[list[dict[str, Any]], Any]:
        """The home tenant's schedules, then (offices) the status of the chosen period."""
        found = await _schedules(api, home_tenant)
        if user.is_enterprise:
            return found, None
        key = chosen["schedule"] or (found[0]["key"] if found else None)
        when = chosen["period"]
        if key and not when:
            picked = next((s for s in found if s["key"] == key), None)
            started = [p for p in (picked or {}).get("periods", []) if p["start"] <= today().isoformat()]
            when = started[-1]["period"] if started else None
        chosen.update(schedule=key, period=when)
        if not (key and when):
            return found, None
        state = await api.maybe(
            "registry", "/v1/reports/status", None, period=when, schedule=key, tenant=tenant
        )
        return found, state

    async def subtree() -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
        """The projects, then the schedules of the other tenants they belong to."""
        page = await api.maybe("registry", "/v1/projects", None, limit=200)
        found = (page or {}).get("items", [])
        others = sorted({p["tenant"] for p in found} - {home_tenant})
        per_tenant = await gather(*(_schedules(api, t) for t in others))
        return found, dict(zip(others, per_tenant, strict=True))

    # independent chains in parallel: the page waits for the slowest, not for the sum
    (home_schedules, status), (projects, other_schedules), recent = await gather(
        home(), subtree(), api.maybe("registry", "/v1/reports", None, limit=50)
    )
    schedule, period = chosen["schedule"], chosen["period"]
    recent = recent or {}
    schedules = {home_tenant: home_schedules, **other_schedules}
    sent = {(r["project_code"], r["schedule_key"], r["period"]) for r in recent.get("items", [])}
    last_cumulative: dict[str, str] = {}
    for r in recent.get("items", []):  # latest due first
        last_cumulative.setdefault(r["project_code"], r["investment_cumulative"])
    rules = _Applicability()
    open_periods = [
        p
        for t, s in schedules.items()
        for p in _open_periods(s, [x for x in projects if x["tenant"] == t], rules)
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
