"""Service log (服务台账): visits and services per project, logged by stewards and secretaries and
approved or returned with a reason by the business-environment bureau (营商局). The registry
decides who may log and who may review; its refusals show as the Chinese error page."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from steward.console.api import ApiError, gather
from steward.console.web import ApiDep, Csrf, UserDep, form_str, lines, redirect, render

router = APIRouter()

STATUS = {"submitted": "待审核", "approved": "已通过", "returned": "已退回"}
KINDS = {
    "visit": "走访",
    "meeting": "会商",
    "phone": "电话服务",
    "online": "线上服务",
    "service": "帮办服务",
    "field_review": "拉练",
    "observation": "观摩",
}
AUTHORS = ("steward", "specialist", "agent", "liaison", "leader", "dispatcher", "tenant_admin")
APPROVERS = ("tenant_admin", "supervisor")


def participants(text: str) -> list[dict[str, str]]:
    """One participant a line: ``姓名｜单位｜角色`` (unit and roster role optional)."""
    out: list[dict[str, str]] = []
    for line in lines(text):
        name, unit, role = [*(part.strip() for part in re.split(r"[|｜]", line)), "", ""][:3]
        if not name:
            continue
        item = {"name": name, "unit": unit}
        if role:
            item["role_key"] = role
        out.append(item)
    return out


def visited_at(value: str) -> str:
    """A ``datetime-local`` value (Beijing time, as the office wrote it) with its zone."""
    value = value.strip()
    if len(value) == 16:  # 2026-11-30T09:30
        value += ":00"
    return value + "+08:00" if value else ""


def _refused(exc: ApiError) -> bool:
    """What the error page shows rather than a note beside the form: the session ended (401), the
    service refused this user (403) or is away (5xx)."""
    return exc.status in (401, 403) or exc.status >= 500


@router.get("/service-log")
async def service_log(
    request: Request,
    user: UserDep,
    api: ApiDep,
    project: str | None = None,
    status: str | None = None,
) -> Response:
    wanted = status if status in STATUS else None
    entries, page = await gather(
        api.get("registry", "/v1/service-log", project=project, status=wanted, limit=100),
        api.maybe("registry", "/v1/projects", None, limit=200),
    )
    projects = (page or {}).get("items", [])
    names = {p["code"]: p["name"] for p in projects}
    return render(
        request,
        "service_log.html",
        nav="service-log",
        entries=entries.get("items", []),
        projects=projects,
        names=names,
        project=project or "",
        status=wanted or "",
        status_labels=STATUS,
        kinds=KINDS,
        can_log=user.has(*AUTHORS) and not user.is_enterprise,
        can_review=user.has(*APPROVERS),
    )


@router.post("/service-log", dependencies=[Csrf])
async def log_entry(request: Request, user: UserDep, api: ApiDep) -> Response:
    form = await request.form()
    body: dict[str, Any] = {
        "project": form_str(form, "project"),
        "visited_at": visited_at(form_str(form, "visited_at")),
        "kind": form_str(form, "kind") or "visit",
        "on_site": form_str(form, "on_site") == "on",
        "place": form_str(form, "place"),
        "participants": participants(form_str(form, "participants")),
        "problems_solved": form_str(form, "problems_solved"),
        "matter_ids": [m for m in re.split(r"[\s,，、]+", form_str(form, "matter_ids")) if m],
    }
    try:
        entry = await api.post("registry", "/v1/service-log", body)
    except ApiError as exc:
        if _refused(exc):
            raise
        return redirect(request, "/service-log", flash=f"未能登记：{exc.text}")
    return redirect(
        request,
        f"/service-log?project={entry['project_code']}",
        flash=f"已登记 {entry['project_code']} 的{KINDS.get(entry['kind'], entry['kind'])}记录（待审核）",
    )


@router.post("/service-log/{entry_id}/approve", dependencies=[Csrf])
async def approve(request: Request, user: UserDep, api: ApiDep, entry_id: uuid.UUID) -> Response:
    try:
        await api.post("registry", f"/v1/service-log/{entry_id}/approve")
    except ApiError as exc:
        if _refused(exc):
            raise
        return redirect(request, "/service-log", flash=f"未能审核：{exc.text}")
    return redirect(request, "/service-log", flash="已审核通过")


@router.post("/service-log/{entry_id}/return", dependencies=[Csrf])
async def return_entry(request: Request, user: UserDep, api: ApiDep, entry_id: uuid.UUID) -> Response:
    form = await request.form()
    try:
        await api.post("registry", f"/v1/service-log/{entry_id}/return", {"reason": form_str(form, "reason")})
    except ApiError as exc:
        if _refused(exc):
            raise
        return redirect(request, "/service-log", flash=f"未能退回：{exc.text}")
    return redirect(request, "/service-log", flash="已退回，并告知退回原因")
