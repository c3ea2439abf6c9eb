"""Administration (light): a tenant's rules in force, its stored versions, presets (when the
registry offers them) and the dry-run of a proposed override before anything is saved."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from steward.console.api import ApiError, gather
from steward.console.projects_common import tenants_of
from steward.console.web import ApiDep, Csrf, UserDep, form_str, render

router = APIRouter()


async def _page(
    request: Request,
    api: Any,
    tenant: str,
    *,
    proposal: str = "",
    result: Any = None,
    error: str | None = None,
) -> Response:
    effective, versions, tenants, presets = await gather(
        api.maybe("registry", f"/v1/rules/{tenant}/effective", None),
        api.maybe("registry", f"/v1/rules/{tenant}/versions", None),
        tenants_of(api),
        api.maybe("registry", "/v1/rules/presets", None),
    )
    items = (versions or {}).get("items", versions if isinstance(versions, list) else [])
    preset_items = (presets or {}).get("items", presets if isinstance(presets, list) else [])
    return render(
        request,
        "admin_rules.html",
        400 if error else 200,
        nav="admin",
        tenant=tenant,
        tenants=tenants,
        effective=effective,
        effective_json=json.dumps((effective or {}).get("document", {}), ensure_ascii=False, indent=2),
        versions=items,
        presets=preset_items,
        proposal=proposal,
        result=result,
        result_json=json.dumps(result, ensure_ascii=False, indent=2) if result is not None else "",
        error=error,
    )


@router.get("/admin/rules")
async def rules(request: Request, user: UserDep, api: ApiDep, tenant: str | None = None) -> Response:
    return await _page(request, api, tenant or user.tenant)


@router.post("/admin/rules/dry-run", dependencies=[Csrf])
async def dry_run(request: Request, user: UserDep, api: ApiDep) -> Response:
    form = await request.form()
    tenant = form_str(form, "tenant") or user.tenant
    proposal = form_str(form, "document")
    try:
        document = json.loads(proposal or "{}")
        if not isinstance(document, dict):
            raise ValueError("document must be an object")
    except ValueError as exc:
        return await _page(
            request, api, tenant, proposal=proposal, error=f"规则文档不是有效的 JSON 对象：{exc}"
        )
    try:
        result = await api.post("registry", f"/v1/rules/{tenant}/dry-run", {"document": document})
    except ApiError as exc:
        if exc.status >= 500 or exc.status == 401:
            raise
        return await _page(request, api, tenant, proposal=proposal, error=f"规则未通过校验：{exc.text}")
    return await _page(request, api, tenant, proposal=proposal, result=result)
