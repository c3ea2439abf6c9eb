"""Minutes (会议纪要): drafted by the organiser from the record, signed off by the chair, issued, the
Word document and the printable page (the meetings service's bytes, proxied with the user's token),
and the recipients' acknowledgements (签收) with who has not yet."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response

from steward.console.api import ApiError, gather
from steward.console.views.meetings_common import MEETING_STATUS, MINUTES_STATUS, is_organizer, refused
from steward.console.web import ApiDep, Csrf, UserDep, form_str, redirect, render

router = APIRouter()
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _chair(user: Any, m: dict[str, Any]) -> bool:
    """Whom the meetings service lets sign: the meeting's chair, else any leader."""
    if m.get("chair_subject"):
        return bool(user.sub == m["chair_subject"])
    return bool(user.has("leader"))


@router.get("/meetings/{meeting_id}/minutes")
async def minutes_page(request: Request, meeting_id: str, user: UserDep, api: ApiDep) -> Response:
    m = await api.get("meetings", f"/v1/meetings/{meeting_id}")
    minutes, decisions = await gather(
        api.maybe("meetings", f"/v1/meetings/{meeting_id}/minutes", None),
        api.maybe("meetings", f"/v1/meetings/{meeting_id}/decisions", None),
    )
    recipients = (minutes or {}).get("recipients", [])
    mine = next((r for r in recipients if r.get("subject") == user.sub), None)
    return render(
        request,
        "meeting_minutes.html",
        nav="meetings",
        m=m,
        mi=minutes,
        decisions=(decisions or {}).get("items", []),
        waiting=[r for r in recipients if r.get("subject") and not r.get("acknowledged_at")],
        acknowledged=[r for r in recipients if r.get("acknowledged_at")],
        mine=mine,
        is_chair=_chair(user, m),
        organizer=is_organizer(user),
        status=MEETING_STATUS,
        minutes_status=MINUTES_STATUS,
    )


@router.post("/meetings/{meeting_id}/minutes", dependencies=[Csrf])
async def draft(request: Request, meeting_id: str, user: UserDep, api: ApiDep) -> Response:
    form = await request.form()
    back = f"/meetings/{meeting_id}/minutes"
    try:
        await api.call(
            "PUT",
            "meetings",
            f"/v1/meetings/{meeting_id}/minutes",
            json={"summary": form_str(form, "summary")},
        )
    except ApiError as exc:
        return refused(request, back, "起草会议纪要", exc)
    return redirect(request, back, flash="会议纪要已起草，待主持人签发")


@router.post("/meetings/{meeting_id}/minutes/{action}", dependencies=[Csrf])
async def minutes_action(
    request: Request, meeting_id: str, action: str, user: UserDep, api: ApiDep
) -> Response:
    labels = {
        "sign": ("签发会议纪要", "主持人已签发会议纪要"),
        "issue": ("下发会议纪要", "会议纪要已下发"),
        "ack": ("签收", "已签收会议纪要"),
    }
    if action not in labels:
        return render(request, "error.html", 404, message="没有这个操作")
    back = f"/meetings/{meeting_id}/minutes"
    form = await request.form()
    body = {"comment": form_str(form, "comment")} if action == "sign" else {}
    try:
        await api.post("meetings", f"/v1/meetings/{meeting_id}/minutes/{action}", body)
    except ApiError as exc:
        return refused(request, back, labels[action][0], exc)
    return redirect(request, back, flash=labels[action][1])


async def _document(api: Any, meeting_id: str, ext: str) -> httpx.Response:
    resp = await api.call("GET", "meetings", f"/v1/meetings/{meeting_id}/minutes.{ext}")
    if not isinstance(resp, httpx.Response):  # a JSON answer where a document was expected
        raise ApiError(502, "bad_gateway", "会议服务未返回文件")
    return resp


@router.get("/meetings/{meeting_id}/minutes.docx")
async def minutes_docx(request: Request, meeting_id: str, user: UserDep, api: ApiDep) -> Response:
    """The Word document as the meetings service made it, named after the minutes' number."""
    resp, minutes = await gather(
        _document(api, meeting_id, "docx"), api.maybe("meetings", f"/v1/meetings/{meeting_id}/minutes", None)
    )
    number = (minutes or {}).get("number") or ""
    name = f"会议纪要{number}.docx"
    fallback = f"minutes-{meeting_id}.docx"
    return Response(
        resp.content,
        media_type=resp.headers.get("content-type", DOCX).split(";")[0] or DOCX,
        headers={
            "Content-Disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}",
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/meetings/{meeting_id}/minutes.html")
async def minutes_html(request: Request, meeting_id: str, user: UserDep, api: ApiDep) -> Response:
    """The printable page (the console's security headers apply: no script runs in it)."""
    resp = await _document(api, meeting_id, "html")
    return Response(
        resp.content, media_type="text/html; charset=utf-8", headers={"Cache-Control": "private, no-store"}
    )
