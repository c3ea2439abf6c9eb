"""Notifications: inbox (newest first), mark read, read all; the badge and the home panel poll."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from steward.console.api import ApiError
from steward.console.web import ApiDep, Csrf, UserDep, form_opt, redirect, render

router = APIRouter()


@router.get("/inbox")
async def inbox(
    request: Request, user: UserDep, api: ApiDep, unread: bool = False, cursor: str | None = None
) -> Response:
    page = await api.get("notify", "/v1/inbox", unread="true" if unread else None, limit=30, cursor=cursor)
    return render(
        request,
        "inbox.html",
        nav="inbox",
        items=page.get("items", []),
        next_cursor=page.get("next_cursor"),
        unread=unread,
    )


@router.get("/inbox/recent")
async def recent(request: Request, user: UserDep, api: ApiDep) -> Response:
    page = await api.maybe("notify", "/v1/inbox", None, limit=6) or {}
    return render(request, "_inbox_recent.html", inbox=page.get("items", []))


@router.get("/inbox/badge")
async def badge(request: Request, user: UserDep, api: ApiDep) -> Response:
    count = (await api.maybe("notify", "/v1/inbox/unread-count", None) or {}).get("unread", 0)
    return HTMLResponse(str(count) if count else "")


@router.post("/inbox/{message_id}/read", dependencies=[Csrf])
async def mark_read(request: Request, message_id: str, user: UserDep, api: ApiDep) -> Response:
    item = await api.post("notify", f"/v1/inbox/{message_id}/read")
    if request.headers.get("hx-request"):
        return render(request, "_inbox_row.html", n=item)
    return redirect(request, "/inbox", flash="已标为已读")


@router.post("/inbox/read-all", dependencies=[Csrf])
async def read_all(request: Request, user: UserDep, api: ApiDep) -> Response:
    await api.post("notify", "/v1/inbox/read-all")
    return redirect(request, "/inbox", flash="全部标为已读")


CHANNELS = {"email": "电子邮件", "sms": "短信", "wecom": "企业微信", "dingtalk": "钉钉", "feishu": "飞书"}


@router.get("/inbox/preferences")
async def preferences(request: Request, user: UserDep, api: ApiDep) -> Response:
    prefs = await api.get("notify", "/v1/preferences/me")
    return render(request, "preferences.html", nav="inbox", prefs=prefs, channels=CHANNELS)


@router.post("/inbox/preferences", dependencies=[Csrf])
async def save_preferences(request: Request, user: UserDep, api: ApiDep) -> Response:
    form = await request.form()
    body = {
        "opt_out_channels": [c for c in CHANNELS if form.get(f"off_{c}") == "on"],
        "quiet_start": form_opt(form, "quiet_start"),
        "quiet_end": form_opt(form, "quiet_end"),
        "digest": form.get("digest") == "on",
        "locale": "zh-CN",
    }
    try:
        await api.call("PUT", "notify", "/v1/preferences/me", json=body)
    except ApiError as exc:
        if exc.status >= 500 or exc.status == 401:
            raise
        return redirect(request, "/inbox/preferences", flash=f"未能保存：{exc.text}")
    return redirect(request, "/inbox/preferences", flash="通知设置已保存")
