"""Administration of the tenant subtree: tenants (districts, zones, townships), units and people, as
the registry's REST API allows (list and create; the registry has no edit call for them yet, and a
person's roles come from the identity provider, not the registry)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from steward.console.api import Api, ApiError, gather
from steward.console.projects_common import tenants_of
from steward.console.views.admin_common import TENANT_KINDS, UNIT_KINDS, AdminDep, items, user_error
from steward.console.web import ApiDep, Csrf, form_opt, form_str, redirect, render

router = APIRouter()


def _depth(tenants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tenants in tree order (by path), each with its depth below the first (the user's own)."""
    ordered = sorted(tenants, key=lambda t: str(t.get("path") or t.get("code")))
    top = min((str(t.get("path", "")).count("/") for t in ordered), default=0)
    return [{**t, "depth": str(t.get("path", "")).count("/") - top} for t in ordered]


# ------------------------------------------------------------------------------------ tenants


async def _tenants_page(
    request: Request, api: Api, values: dict[str, str] | None = None, error: str | None = None
) -> Response:
    tenants = await tenants_of(api)
    return render(
        request,
        "admin_tenants.html",
        400 if error else 200,
        nav="admin",
        section="tenants",
        tenants=_depth(tenants),
        kinds=TENANT_KINDS,
        values=values or {},
        error=error,
    )


@router.get("/admin/tenants")
async def tenant_list(request: Request, user: AdminDep, api: ApiDep) -> Response:
    return await _tenants_page(request, api)


@router.post("/admin/tenants", dependencies=[Csrf])
async def tenant_create(request: Request, user: AdminDep, api: ApiDep) -> Response:
    form = await request.form()
    values = {k: form_str(form, k) for k in ("code", "name", "kind", "parent")}
    body = {**values, "parent": values["parent"] or user.tenant}
    try:
        tenant = await api.post("registry", "/v1/tenants", body)
    except ApiError as exc:
        if not user_error(exc):
            raise
        return await _tenants_page(request, api, values, f"未能新增地区：{exc.text}")
    return redirect(request, "/admin/tenants", flash=f"已新增 {tenant['name']}（{tenant['code']}）")


# -------------------------------------------------------------------------------------- units


async def _units_page(
    request: Request,
    api: Api,
    filters: dict[str, str],
    values: dict[str, str] | None = None,
    error: str | None = None,
) -> Response:
    page, tenants = await gather(
        api.get("registry", "/v1/units", limit=200, **filters),
        tenants_of(api),
    )
    return render(
        request,
        "admin_units.html",
        400 if error else 200,
        nav="admin",
        section="units",
        units=items(page),
        next_cursor=(page or {}).get("next_cursor"),
        tenants=_depth(tenants),
        tenant_names={t["code"]: t["name"] for t in tenants},
        kinds=UNIT_KINDS,
        filters=filters,
        values=values or {},
        error=error,
    )


UNIT_FILTERS = ("tenant", "kind", "q", "cursor")


@router.get("/admin/units")
async def unit_list(request: Request, user: AdminDep, api: ApiDep) -> Response:
    filters = {k: request.query_params.get(k, "") for k in UNIT_FILTERS}
    return await _units_page(request, api, filters)


@router.post("/admin/units", dependencies=[Csrf])
async def unit_create(request: Request, user: AdminDep, api: ApiDep) -> Response:
    form = await request.form()
    values = {k: form_str(form, k) for k in ("tenant", "kind", "name", "credit_code")}
    body: dict[str, Any] = {
        "tenant": values["tenant"] or user.tenant,
        "kind": values["kind"],
        "name": values["name"],
        "credit_code": form_opt(form, "credit_code"),
    }
    try:
        unit = await api.post("registry", "/v1/units", body)
    except ApiError as exc:
        if not user_error(exc):
            raise
        return await _units_page(
            request, api, {"tenant": body["tenant"]}, values, f"未能新增单位：{exc.text}"
        )
    return redirect(request, f"/admin/units?tenant={unit['tenant']}", flash=f"已新增单位 {unit['name']}")


# ------------------------------------------------------------------------------------- people

PERSON_FIELDS = ("tenant", "unit_id", "name", "title", "phone", "email", "wecom_id", "subject")


async def _people_page(
    request: Request,
    api: Api,
    filters: dict[str, str],
    values: dict[str, str] | None = None,
    error: str | None = None,
) -> Response:
    unit_tenant = filters.get("tenant") or (values or {}).get("tenant") or ""
    page, tenants, units = await gather(
        api.get("registry", "/v1/people", limit=200, **filters),
        tenants_of(api),
        api.maybe("registry", "/v1/units", None, tenant=unit_tenant, limit=200),
    )
    unit_list = items(units)
    return render(
        request,
        "admin_people.html",
        400 if error else 200,
        nav="admin",
        section="people",
        people=items(page),
        next_cursor=(page or {}).get("next_cursor"),
        tenants=_depth(tenants),
        tenant_names={t["code"]: t["name"] for t in tenants},
        units=unit_list,
        unit_names={u["id"]: u["name"] for u in unit_list},
        filters=filters,
        values=values or {},
        error=error,
    )


PEOPLE_FILTERS = ("tenant", "unit_id", "q", "cursor")


@router.get("/admin/people")
async def people_list(request: Request, user: AdminDep, api: ApiDep) -> Response:
    filters = {k: request.query_params.get(k, "") for k in PEOPLE_FILTERS}
    return await _people_page(request, api, filters)


@router.post("/admin/people", dependencies=[Csrf])
async def person_create(request: Request, user: AdminDep, api: ApiDep) -> Response:
    form = await request.form()
    values = {k: form_str(form, k) for k in PERSON_FIELDS}
    body: dict[str, Any] = {"tenant": values["tenant"] or user.tenant, "name": values["name"]}
    body["title"] = values["title"]
    for key in ("unit_id", "phone", "email", "wecom_id", "subject"):
        if values[key]:
            body[key] = values[key]
    try:
        person = await api.post("registry", "/v1/people", body)
    except ApiError as exc:
        if not user_error(exc):
            raise
        return await _people_page(
            request, api, {"tenant": body["tenant"]}, values, f"未能新增人员：{exc.text}"
        )
    return redirect(request, f"/admin/people?tenant={person['tenant']}", flash=f"已新增人员 {person['name']}")
