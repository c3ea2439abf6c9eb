"""Matters: work queues, filing form with the tenant's taxonomy, timeline, the workflow actions,
procedure submissions with one-time notices, supervision orders."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from steward.console.api import Api, ApiError, gather
from steward.console.fmt import MATTER_STATUS
from steward.console.session import User
from steward.console.web import ApiDep, Csrf, UserDep, form_opt, form_str, lines, redirect, render

router = APIRouter()
FILTERS = ("tenant", "kind", "status", "tier", "category", "overdue", "open_only", "q")
QUEUES = {"my-unit": "本单位待办", "overdue": "逾期事项"}
STATUSES = MATTER_STATUS
OPEN = ("filed", "accepted", "in_progress", "returned", "resolved", "confirmed")

# action -> (label, statuses it applies to, form fields)
ACTIONS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "accept": ("分拣受理", ("filed",), "unit"),
    "assign": ("改派", ("accepted", "in_progress"), "unit_opt"),
    "start": ("开始办理", ("accepted",), "note"),
    "answer": ("明确答复", ("accepted", "in_progress"), "text"),
    "pause": ("暂停计时（等待企业）", ("accepted", "in_progress"), "reason"),
    "resume": ("恢复计时", ("accepted", "in_progress"), "note"),
    "resolve": ("办结", ("accepted", "in_progress"), "text"),
    "complete": ("手续办结", ("accepted", "in_progress"), "note"),
    "return": ("退回补充材料", ("filed", "accepted"), "reason"),
    "resubmit": ("重新提交", ("returned",), "text"),
    "reject": ("不予受理", ("filed", "returned"), "reason"),
    "confirm": ("确认办结", ("resolved",), "note"),
    "reopen": ("不认可，重新办理", ("resolved",), "reason"),
    "close": ("关闭", ("resolved", "confirmed"), "close"),
    "rate": ("评价", ("closed",), "rate"),
    "escalate": ("升级", OPEN[:3], "escalate"),
    "supervision-orders": ("下达督办单", OPEN[:3], "order"),
}
RATINGS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}


def allowed_actions(m: dict[str, Any], user: User) -> list[tuple[str, str, str]]:
    """The actions the workflow allows in this status (the service still checks the user's role)."""
    out = []
    for key, (label, statuses, fields) in ACTIONS.items():
        if m["status"] not in statuses:
            continue
        if key == "complete" and m["kind"] != "procedure":
            continue
        if key == "answer" and not m.get("difficult"):
            continue
        if (key == "pause" and m.get("paused")) or (key == "resume" and not m.get("paused")):
            continue
        reporter_only = key in ("confirm", "reopen", "rate", "resubmit")
        if user.is_enterprise and not reporter_only:
            continue
        if key in ("supervision-orders",) and not user.has(
            "supervisor", "leader", "platform_admin", "tenant_admin"
        ):
            continue
        out.append((key, label, fields))
    return out


async def taxonomy(api: Api, tenant: str) -> list[dict[str, Any]]:
    rules = await api.maybe("registry", f"/v1/rules/{tenant}/effective", None)
    return list(((rules or {}).get("document", {}).get("matters") or {}).get("taxonomy") or [])


@router.get("/matters")
async def matter_list(request: Request, user: UserDep, api: ApiDep, cursor: str | None = None) -> Response:
    filters = {k: request.query_params.get(k, "") for k in FILTERS}
    page = await api.get("issues", "/v1/matters", limit=50, cursor=cursor, **filters)
    return _list_page(request, page, filters=filters, queue=None)


@router.get("/matters/queue/{queue}")
async def matter_queue(
    request: Request, queue: str, user: UserDep, api: ApiDep, cursor: str | None = None
) -> Response:
    if queue not in QUEUES:
        return render(request, "error.html", 404, message="没有这个工作队列")
    page = await api.get("issues", f"/v1/matters/queues/{queue}", limit=50, cursor=cursor)
    return _list_page(request, page, filters={}, queue=queue)


def _list_page(
    request: Request, page: dict[str, Any], *, filters: dict[str, str], queue: str | None
) -> Response:
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    return render(
        request,
        "matters.html",
        nav="matters",
        items=page.get("items", []),
        next_cursor=page.get("next_cursor"),
        filters=filters,
        query=query,
        queue=queue,
        queues=QUEUES,
        statuses=STATUSES,
    )


@router.get("/matters/new")
async def new_matter(request: Request, user: UserDep, api: ApiDep, project: str | None = None) -> Response:
    return await _file_form(request, api, user, {"project_id": project or ""}, None)


async def _file_form(
    request: Request, api: Api, user: User, values: dict[str, str], error: str | None
) -> Response:
    projects, tax = await gather(
        api.maybe("registry", "/v1/projects", None, limit=200),
        taxonomy(api, user.tenant),
    )
    return render(
        request,
        "matter_new.html",
        400 if error else 200,
        nav="matters",
        projects=(projects or {}).get("items", []),
        taxonomy=tax,
        values=values,
        error=error,
    )


@router.post("/matters", dependencies=[Csrf])
async def file_matter(request: Request, user: UserDep, api: ApiDep) -> Response:
    form = await request.form()
    values = {k: form_str(form, k) for k in form if k != "csrf"}
    category, _, sub_item = values.get("item", "").partition(":")
    body: dict[str, Any] = {
        "kind": values.get("kind") or "obstacle",
        "title": values.get("title", ""),
        "description": values.get("description", ""),
        "project_id": values.get("project_id") or None,
        "category": category or None,
        "sub_item": sub_item or None,
        "difficult": values.get("difficult") == "on",
        "idempotency_key": values.get("idem") or None,
    }
    try:
        matter = await api.post("issues", "/v1/matters", body)
    except ApiError as exc:
        if exc.status in (400, 403, 404, 409, 422):
            return await _file_form(request, api, user, values, exc.text)
        raise
    return redirect(
        request,
        f"/matters/{matter['number']}",
        flash=f"已提交，编号 {matter['number']}，办理期限 {matter.get('due_date') or '待定'}",
    )


@router.get("/matters/{key}")
async def matter_detail(request: Request, key: str, user: UserDep, api: ApiDep) -> Response:
    matter = await api.get("issues", f"/v1/matters/{key}")
    timeline, units, submissions = await gather(
        api.maybe("issues", f"/v1/matters/{key}/timeline", None),
        api.maybe(
            "registry", "/v1/units", None, tenant=matter["handling_tenant"], kind="department", limit=200
        )
        if not user.is_enterprise
        else _none(),
        api.maybe("issues", "/v1/procedure-notices", None, tenant=matter["tenant"], limit=500)
        if matter["kind"] == "procedure"
        else _none(),
    )
    subs = [s for s in (submissions or {}).get("items", []) if s.get("matter_id") == matter["id"]]
    return render(
        request,
        "matter_detail.html",
        nav="matters",
        m=matter,
        timeline=(timeline or {}).get("items", []),
        actions=allowed_actions(matter, user),
        units=(units or {}).get("items", []),
        submissions=subs,
        ratings=RATINGS,
        idem=uuid.uuid4().hex,
    )


async def _none() -> None:
    return None


def _action_body(action: str, form: Any) -> dict[str, Any]:
    fields = ACTIONS[action][2]
    if fields in ("unit", "unit_opt"):
        unit = form_str(form, "unit")
        unit_id, _, unit_name = unit.partition("|")
        body: dict[str, Any] = {
            "note": form_str(form, "note"),
            "responsible_person": form_opt(form, "person"),
        }
        if unit_id:
            body["responsible_unit_id"] = unit_id
            body["responsible_unit_name"] = unit_name
        return body
    if fields == "note":
        return {"note": form_str(form, "note")}
    if fields == "text":
        return {"text": form_str(form, "text")}
    if fields == "reason":
        return {"reason": form_str(form, "reason")}
    if fields == "escalate":
        return {"to": form_str(form, "to") or "next_tier", "reason": form_str(form, "reason")}
    if fields == "order":
        days = form_str(form, "due_working_days")
        return {
            "instructions": form_str(form, "instructions"),
            "due_working_days": int(days) if days.isdigit() else None,
        }
    if fields in ("close", "rate"):
        rating = form_str(form, "rating")
        body = {"comment": form_str(form, "comment"), "rating": int(rating) if rating.isdigit() else None}
        return body
    return {}


@router.post("/matters/{key}/act/{action}", dependencies=[Csrf])
async def act(request: Request, key: str, action: str, user: UserDep, api: ApiDep) -> Response:
    if action not in ACTIONS:
        return render(request, "error.html", 404, message="没有这个操作")
    form = await request.form()
    try:
        await api.post("issues", f"/v1/matters/{key}/{action}", _action_body(action, form))
    except ApiError as exc:
        if exc.status >= 500 or exc.status == 401:
            raise
        return redirect(request, f"/matters/{key}", flash=f"未能{ACTIONS[action][0]}：{exc.text}")
    return redirect(request, f"/matters/{key}", flash=f"已{ACTIONS[action][0]}")


@router.post("/matters/{key}/submissions", dependencies=[Csrf])
async def submit_materials(request: Request, key: str, user: UserDep, api: ApiDep) -> Response:
    form = await request.form()
    body = {"materials": lines(form_str(form, "materials")), "note": form_str(form, "note")}
    try:
        await api.post("issues", f"/v1/matters/{key}/submissions", body)
    except ApiError as exc:
        if exc.status >= 500 or exc.status == 401:
            raise
        return redirect(request, f"/matters/{key}", flash=f"未能提交材料：{exc.text}")
    return redirect(request, f"/matters/{key}", flash="材料已提交，审查期限1个工作日")


@router.post("/matters/{key}/submissions/{submission_id}/{decision}", dependencies=[Csrf])
async def decide_submission(
    request: Request, key: str, submission_id: str, decision: str, user: UserDep, api: ApiDep
) -> Response:
    form = await request.form()
    try:
        if decision == "notice":
            await api.post(
                "issues", f"/v1/submissions/{submission_id}/notice", {"items": lines(form_str(form, "items"))}
            )
            done = "已一次性告知需补正的全部材料"
        elif decision == "accept":
            await api.post("issues", f"/v1/submissions/{submission_id}/accept")
            done = "材料齐全，已受理"
        else:
            return render(request, "error.html", 404, message="没有这个操作")
    except ApiError as exc:
        if exc.status >= 500 or exc.status == 401:
            raise
        return redirect(request, f"/matters/{key}", flash=f"未能处理：{exc.text}")
    return redirect(request, f"/matters/{key}", flash=done)
