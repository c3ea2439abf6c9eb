"""Administration of agency webhook subscriptions (owned by the notify service): list, create (the
signing secret is shown once, on the page that answers the creation), disable and enable again."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from steward.console.api import Api, ApiError, gather
from steward.console.projects_common import tenants_of
from steward.console.views.admin_common import AdminDep, items, user_error, write
from steward.console.web import ApiDep, Csrf, form_str, redirect, render

router = APIRouter()


async def _page(
    request: Request,
    api: Api,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    created: dict[str, Any] | None = None,
) -> Response:
    subs, tenants = await gather(api.get("notify", "/v1/subscriptions"), tenants_of(api))
    return render(
        request,
        "admin_subscriptions.html",
        400 if error else (201 if created else 200),
        nav="admin",
        section="subscriptions",
        subscriptions=items(subs),
        tenants=tenants,
        values=values or {},
        error=error,
        created=created,
    )


@router.get("/admin/subscriptions")
async def subscription_list(request: Request, user: AdminDep, api: ApiDep) -> Response:
    return await _page(request, api)


def event_types(text: str) -> list[str]:
    """One glob per line or separated by commas / spaces (``matter.*``, ``project.registered``)."""
    return [t for t in re.split(r"[\s,，、]+", text) if t]


@router.post("/admin/subscriptions", dependencies=[Csrf])
async def subscription_create(request: Request, user: AdminDep, api: ApiDep) -> Response:
    form = await request.form()
    values = {k: form_str(form, k) for k in ("tenant", "name", "url", "event_types")}
    body = {
        "tenant": values["tenant"] or user.tenant,
        "name": values["name"],
        "url": values["url"],
        "event_types": event_types(values["event_types"]),
        "enabled": True,
    }
    try:
        created = await api.post("notify", "/v1/subscriptions", body)
    except ApiError as exc:
        if not user_error(exc):
            raise
        return await _page(request, api, values=values, error=f"未能创建订阅：{exc.text}")
    # the secret is shown on this answer only (never in a cookie or a link)
    return await _page(request, api, created=created)


@router.post("/admin/subscriptions/{sub_id}/enabled", dependencies=[Csrf])
async def subscription_toggle(request: Request, sub_id: str, user: AdminDep, api: ApiDep) -> Response:
    form = await request.form()
    enabled = form_str(form, "enabled") == "true"
    try:
        sub = await write(api, "PATCH", "notify", f"/v1/subscriptions/{sub_id}", {"enabled": enabled})
    except ApiError as exc:
        if not user_error(exc):
            raise
        return redirect(request, "/admin/subscriptions", flash=f"未能变更订阅：{exc.text}")
    state = "启用" if sub["enabled"] else "停用"
    return redirect(request, "/admin/subscriptions", flash=f"已{state}订阅 {sub['name']}")
