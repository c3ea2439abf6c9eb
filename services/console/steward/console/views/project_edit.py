"""Project edit form (the registry's ``PATCH /v1/projects/{code}``): only the fields that changed
are sent, with the row version read (optimistic lock); after saving the page shows the dispatch
tier the rules derive now, its reasons, and what it was before."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from steward.console.api import Api, ApiError
from steward.console.web import ApiDep, Csrf, UserDep, form_str, render

router = APIRouter()
TEXT = ("name", "industry", "funding_type", "key_level")
OPTIONAL = ("national_code", "owner_unit_id", "annual_plan_investment", "planned_start", "planned_completion")


def _labels() -> tuple[dict[str, str], dict[str, str]]:
    from steward.console.views import projects  # the shared labels (projects includes this router)

    return projects.FUNDING, projects.KEY_LEVELS


def _values(project: dict[str, Any]) -> dict[str, str]:
    values = {k: "" if project.get(k) is None else str(project[k]) for k in (*TEXT, *OPTIONAL)}
    values["total_investment"] = str(project.get("total_investment") or "")
    values["major"] = "on" if project.get("major") else ""
    return values


def _same_amount(a: str, b: str) -> bool:
    try:
        return Decimal(a) == Decimal(b)
    except InvalidOperation:
        return False  # "2500万" etc.: let the registry parse it


def changes(project: dict[str, Any], form: dict[str, str]) -> dict[str, Any]:
    """The PATCH body: what the form changed against the project as read (empty optional = clear)."""
    before = _values(project)
    body: dict[str, Any] = {}
    for key in TEXT:
        if form.get(key, "") and form[key] != before[key]:
            body[key] = form[key]
    for key in OPTIONAL:
        if form.get(key, "") != before[key]:
            body[key] = form.get(key) or None
    amount = form.get("total_investment", "")
    if (
        amount
        and amount != before["total_investment"]
        and not _same_amount(amount, before["total_investment"])
    ):
        body["total_investment"] = amount
    if (form.get("major") == "on") != (before["major"] == "on"):
        body["major"] = form.get("major") == "on"
    return body


async def _form(
    request: Request,
    api: Api,
    project: dict[str, Any],
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    saved: bool = False,
    before: dict[str, Any] | None = None,
) -> Response:
    enterprises = await api.maybe("registry", "/v1/units", None, kind="enterprise", limit=200)
    funding, key_levels = _labels()
    return render(
        request,
        "project_edit.html",
        400 if error else 200,
        nav="projects",
        p=project,
        values=values or _values(project),
        enterprises=(enterprises or {}).get("items", []),
        funding=funding,
        key_levels=key_levels,
        error=error,
        saved=saved,
        before=before,
    )


@router.get("/projects/{code}/edit")
async def edit_form(request: Request, code: str, user: UserDep, api: ApiDep) -> Response:
    project = await api.get("registry", f"/v1/projects/{code}")
    return await _form(request, api, project)


@router.post("/projects/{code}/edit", dependencies=[Csrf])
async def edit(request: Request, code: str, user: UserDep, api: ApiDep) -> Response:
    form = await request.form()
    values = {k: form_str(form, k) for k in form if k not in ("csrf", "row_version")}
    project = await api.get("registry", f"/v1/projects/{code}")
    body = changes(project, values)
    if not body:
        return await _form(request, api, project, values=values, error="没有修改任何内容")
    version = form_str(form, "row_version")
    if version.isdigit():
        body["expected_version"] = int(version)
    try:
        updated = await api.call("PATCH", "registry", f"/v1/projects/{code}", json=body)
    except ApiError as exc:
        if exc.status not in (400, 409, 422):
            raise
        message = "项目已被他人修改，请刷新后重新填写" if exc.status == 409 else exc.text
        return await _form(request, api, project, values=values, error=f"未能保存：{message}")
    return await _form(request, api, updated, saved=True, before=project.get("dispatch"))
