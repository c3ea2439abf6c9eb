"""Administration: the rules editor (the tenant's rules in force, its stored versions, presets) where
every change is dry-run first — its diff and the projects it would move are shown — and only then
saved; plus the administration pages of admin_org.py and admin_subscriptions.py."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from steward.console.api import Api, ApiError, gather
from steward.console.projects_common import tenants_of
from steward.console.session import User
from steward.console.views import admin_org, admin_subscriptions
from steward.console.views.admin_common import AdminDep, items, proof_for, proof_ok, user_error, write
from steward.console.web import ApiDep, Csrf, form_opt, form_str, redirect, render

router = APIRouter()
router.include_router(admin_org.router)
router.include_router(admin_subscriptions.router)
OPS = {"add": "新增", "remove": "删除", "replace": "修改"}


@router.get("/admin")
async def index(request: Request, user: AdminDep) -> Response:
    return redirect(request, "/admin/tenants")


async def _page(
    request: Request,
    api: Api,
    user: User,
    tenant: str,
    *,
    proposal: str = "",
    preset: str = "",
    result: Any = None,
    error: str | None = None,
) -> Response:
    effective, versions, tenants, presets = await gather(
        api.maybe("registry", f"/v1/rules/{tenant}/effective", None),
        api.maybe("registry", f"/v1/rules/{tenant}/versions", None),
        tenants_of(api),
        api.maybe("registry", "/v1/rules/presets", None),
    )
    proof = ""
    if result is not None and result.get("valid"):
        proof = proof_for(request, user, tenant, {"preset": preset} if preset else _document(proposal))
    return render(
        request,
        "admin_rules.html",
        400 if error else 200,
        nav="admin",
        section="rules",
        tenant=tenant,
        tenants=tenants,
        effective=effective,
        effective_json=json.dumps((effective or {}).get("document", {}), ensure_ascii=False, indent=2),
        versions=sorted(items(versions), key=lambda v: v.get("version", 0), reverse=True),
        presets=items(presets),
        proposal=proposal,
        preset=preset,
        result=result,
        ops=OPS,
        proof=proof,
        error=error,
    )


def _document(text: str) -> dict[str, Any]:
    document = json.loads(text or "{}")
    if not isinstance(document, dict):
        raise ValueError("须为 JSON 对象")
    return document


def _body(form: Any, document: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"comment": form_str(form, "comment")}
    if document is not None:
        body["document"] = document
    when = form_opt(form, "effective_from")
    if when:
        body["effective_from"] = when if "T" in when else f"{when}T00:00:00+08:00"
    return body


@router.get("/admin/rules")
async def rules(request: Request, user: AdminDep, api: ApiDep, tenant: str | None = None) -> Response:
    return await _page(request, api, user, tenant or user.tenant)


@router.post("/admin/rules/dry-run", dependencies=[Csrf])
async def dry_run(request: Request, user: AdminDep, api: ApiDep) -> Response:
    form = await request.form()
    tenant = form_str(form, "tenant") or user.tenant
    proposal = form_str(form, "document")
    try:
        document = _document(proposal)
    except ValueError as exc:
        return await _page(
            request, api, user, tenant, proposal=proposal, error=f"规则文档不是有效的 JSON 对象：{exc}"
        )
    try:
        result = await api.post("registry", f"/v1/rules/{tenant}/dry-run", {"document": document})
    except ApiError as exc:
        if not user_error(exc):
            raise
        return await _page(request, api, user, tenant, proposal=proposal, error=f"规则未通过校验：{exc.text}")
    return await _page(request, api, user, tenant, proposal=proposal, result=result)


@router.post("/admin/rules/save", dependencies=[Csrf])
async def save(request: Request, user: AdminDep, api: ApiDep) -> Response:
    """Stores the override exactly as it was dry-run (the proof names its digest)."""
    form = await request.form()
    tenant = form_str(form, "tenant") or user.tenant
    proposal = form_str(form, "document")
    try:
        document = _document(proposal)
    except ValueError as exc:
        return await _page(request, api, user, tenant, proposal=proposal, error=f"规则文档无效：{exc}")
    if not proof_ok(request, user, tenant, document, form_str(form, "proof")):
        return await _page(
            request,
            api,
            user,
            tenant,
            proposal=proposal,
            error="请先试算并查看影响，确认后再保存（规则已改动或试算已过期）",
        )
    try:
        version = await write(api, "PUT", "registry", f"/v1/rules/{tenant}", _body(form, document))
    except ApiError as exc:
        if not user_error(exc):
            raise
        return await _page(request, api, user, tenant, proposal=proposal, error=f"未能保存：{exc.text}")
    return redirect(
        request, f"/admin/rules?tenant={tenant}", flash=f"规则已保存为 {tenant} 第{version['version']}版"
    )


@router.post("/admin/rules/presets/dry-run", dependencies=[Csrf])
async def preset_dry_run(request: Request, user: AdminDep, api: ApiDep) -> Response:
    form = await request.form()
    tenant = form_str(form, "tenant") or user.tenant
    name = form_str(form, "preset")
    try:
        result = await api.post("registry", f"/v1/rules/{tenant}/presets/{name}/dry-run", {})
    except ApiError as exc:
        if not user_error(exc):
            raise
        return await _page(request, api, user, tenant, error=f"预设无法试算：{exc.text}")
    return await _page(request, api, user, tenant, preset=name, result=result)


@router.post("/admin/rules/presets/apply", dependencies=[Csrf])
async def preset_apply(request: Request, user: AdminDep, api: ApiDep) -> Response:
    form = await request.form()
    tenant = form_str(form, "tenant") or user.tenant
    name = form_str(form, "preset")
    if not name or not proof_ok(request, user, tenant, {"preset": name}, form_str(form, "proof")):
        return await _page(request, api, user, tenant, error="请先试算预设并查看影响，确认后再应用")
    try:
        version = await write(api, "POST", "registry", f"/v1/rules/{tenant}/presets/{name}", _body(form))
    except ApiError as exc:
        if not user_error(exc):
            raise
        return await _page(request, api, user, tenant, error=f"未能应用预设：{exc.text}")
    return redirect(
        request,
        f"/admin/rules?tenant={tenant}",
        flash=f"已应用预设 {name}，保存为 {tenant} 第{version['version']}版",
    )
