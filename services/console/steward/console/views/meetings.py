"""Meetings (when the meetings service is configured): the coordination meetings of the subtree,
one meeting's topics (with missing sign-offs) and decisions (each a tracked matter)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from steward.console.api import gather
from steward.console.web import ApiDep, UserDep, render

router = APIRouter()
STATUS = {
    "scheduled": "待召开",
    "compiled": "议程已汇总",
    "held": "已召开",
    "cancelled": "已取消",
    "minutes_signed": "纪要已签发",
    "minutes_issued": "纪要已下发",
}
TOPIC_STATUS = {
    "submitted": "已申报",
    "signed": "已签字",
    "scheduled": "已列入议程",
    "discussed": "已研究",
    "withdrawn": "已撤回",
    "deferred": "顺延",
}


@router.get("/meetings")
async def meetings(request: Request, user: UserDep, api: ApiDep, cursor: str | None = None) -> Response:
    page, backlog = await gather(
        api.get("meetings", "/v1/meetings", limit=30, cursor=cursor),
        api.maybe("meetings", "/v1/topics", None, backlog="true", limit=30),
    )
    return render(
        request,
        "meetings.html",
        nav="meetings",
        items=page.get("items", []),
        next_cursor=page.get("next_cursor"),
        backlog=(backlog or {}).get("items", []),
        status=STATUS,
        topic_status=TOPIC_STATUS,
    )


@router.get("/meetings/{meeting_id}")
async def meeting(request: Request, meeting_id: str, user: UserDep, api: ApiDep) -> Response:
    m = await api.get("meetings", f"/v1/meetings/{meeting_id}")
    topics, decisions = await gather(
        api.maybe("meetings", "/v1/topics", None, meeting_id=meeting_id, limit=100),
        api.maybe("meetings", f"/v1/meetings/{meeting_id}/decisions", None),
    )
    return render(
        request,
        "meeting_detail.html",
        nav="meetings",
        m=m,
        topics=(topics or {}).get("items", []),
        decisions=(decisions or {}).get("items", []),
        status=STATUS,
        topic_status=TOPIC_STATUS,
    )
