"""Meetings (when the meetings service is configured): the coordination meetings of the subtree and
the topics awaiting study; one meeting with its cut-off facts, topics and their sign-offs, the
compiled agenda in the series' fixed order (supervision report first) and its decisions (each a
tracked matter); calling an ad-hoc meeting (临时协调会议). Topics, running the meeting and the
minutes live in the sibling modules, whose routers this one includes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from steward.console.api import ApiError, gather
from steward.console.fmt import SHANGHAI
from steward.console.projects_common import tenants_of
from steward.console.views import meetings_minutes, meetings_run, meetings_topics
from steward.console.views.meetings_common import (
    ATTENDANCE,
    KIND,
    MEETING_STATUS,
    MINUTES_STATUS,
    OPEN,
    SIGNOFF_ROLE,
    SUPERVISION_STATE,
    TOPIC_STATUS,
    can_submit,
    cutoff_facts,
    directory,
    is_organizer,
    refusal,
    refused,
    series_spec,
)
from steward.console.web import ApiDep, Csrf, UserDep, form_str, redirect, render

router = APIRouter()
router.include_router(meetings_topics.router)
router.include_router(meetings_run.router)
router.include_router(meetings_minutes.router)

# kept for the pages and tests that imported them from here
STATUS = MEETING_STATUS


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
        status=MEETING_STATUS,
        kinds=KIND,
        topic_status=TOPIC_STATUS,
        signoff_role=SIGNOFF_ROLE,
        organizer=is_organizer(user),
    )


# ------------------------------------------------------------------------ ad-hoc meeting (临时协调会议)


async def _new_form(
    request: Request, user: Any, api: Any, *, values: dict[str, Any], error: str = ""
) -> Response:
    tenant = values.get("tenant") or user.tenant
    tenants, series, found = await gather(
        tenants_of(api),
        api.maybe("meetings", "/v1/series", None, tenant=tenant),
        directory(api, tenant),
    )
    return render(
        request,
        "meeting_new.html",
        422 if error else 200,
        nav="meetings",
        tenants=tenants,
        series=(series or {}).get("items", []),
        people=found["people"],
        values=values,
        error=error,
    )


@router.get("/meetings/new")
async def new_meeting(request: Request, user: UserDep, api: ApiDep, tenant: str | None = None) -> Response:
    now = datetime.now(SHANGHAI)
    values = {"tenant": tenant or user.tenant, "date": now.date().isoformat(), "time": "15:00"}
    return await _new_form(request, user, api, values=values)


def _starts_at(day: str, at: str) -> str | None:
    try:
        return datetime.fromisoformat(f"{day}T{at or '09:00'}").replace(tzinfo=SHANGHAI).isoformat()
    except ValueError:
        return None


@router.post("/meetings", dependencies=[Csrf])
async def create_meeting(request: Request, user: UserDep, api: ApiDep) -> Response:
    form = await request.form()
    values = {
        k: form_str(form, k) for k in ("tenant", "series_key", "title", "date", "time", "reason", "location")
    }
    chosen = [v for v in form.getlist("participants") if isinstance(v, str) and v]
    values["participants"] = chosen  # type: ignore[assignment]
    values["chair"] = form_str(form, "chair")
    starts_at = _starts_at(values["date"], values["time"])
    if starts_at is None:
        return await _new_form(request, user, api, values=values, error="请填写会议日期和时间")
    people = {p["subject"]: p for p in (await directory(api, values["tenant"] or user.tenant))["people"]}
    chair = people.get(values["chair"])
    body: dict[str, Any] = {
        "tenant": values["tenant"] or user.tenant,
        "series_key": values["series_key"] or None,
        "title": values["title"],
        "starts_at": starts_at,
        "reason": values["reason"],
        "location": values["location"],
        "participants": [
            {
                "subject": s,
                "name": people[s]["name"],
                "unit_id": people[s].get("unit_id"),
                "unit_name": people[s].get("unit_name") or None,
            }
            for s in chosen
            if s in people
        ],
    }
    if chair is not None:
        body["chair_subject"], body["chair_name"] = chair["subject"], chair["name"]
    try:
        m = await api.post("meetings", "/v1/meetings", body)
    except ApiError as exc:
        if exc.status >= 500 or exc.status == 401:
            raise
        return await _new_form(request, user, api, values=values, error=refusal(exc))
    return redirect(request, f"/meetings/{m['id']}", flash="临时协调会议已召集，会议通知将按规则发出")


# ------------------------------------------------------------------------------------ one meeting


@router.get("/meetings/{meeting_id}")
async def meeting(request: Request, meeting_id: str, user: UserDep, api: ApiDep) -> Response:
    m = await api.get("meetings", f"/v1/meetings/{meeting_id}")
    topics, decisions, agenda, minutes, spec = await gather(
        api.maybe("meetings", "/v1/topics", None, meeting_id=meeting_id, limit=200),
        api.maybe("meetings", f"/v1/meetings/{meeting_id}/decisions", None),
        api.maybe("meetings", f"/v1/meetings/{meeting_id}/agenda", None),
        api.maybe("meetings", f"/v1/meetings/{meeting_id}/minutes", None),
        series_spec(api, m),
    )
    topic_rows = (topics or {}).get("items", [])
    return render(
        request,
        "meeting_detail.html",
        nav="meetings",
        m=m,
        facts=cutoff_facts(m, spec),
        spec=spec or {},
        topics=topic_rows,
        unsigned=[t for t in topic_rows if t.get("missing_signoffs") and t.get("status") == "submitted"],
        topic_titles={t["id"]: t["title"] for t in topic_rows if "id" in t},
        decisions=(decisions or {}).get("items", []),
        agenda=agenda,
        minutes=minutes,
        status=MEETING_STATUS,
        kinds=KIND,
        topic_status=TOPIC_STATUS,
        signoff_role=SIGNOFF_ROLE,
        supervision_state=SUPERVISION_STATE,
        minutes_status=MINUTES_STATUS,
        attendance=ATTENDANCE,
        is_open=m.get("status") in OPEN,
        organizer=is_organizer(user),
        submitter=can_submit(user),
    )


@router.post("/meetings/{meeting_id}/compile", dependencies=[Csrf])
async def compile_agenda(request: Request, meeting_id: str, user: UserDep, api: ApiDep) -> Response:
    """重点办汇总: the organiser compiles (again, until the meeting is held); unsigned topics move on."""
    back = f"/meetings/{meeting_id}#agenda"
    try:
        agenda = await api.post("meetings", f"/v1/meetings/{meeting_id}/agenda/compile")
    except ApiError as exc:
        return refused(request, back, "汇总议程", exc)
    parts = agenda.get("document", {}).get("parts", [])
    problems: dict[str, Any] = next((p for p in parts if p.get("part") == "project_problems"), {})
    n = len(problems.get("items", []))
    return redirect(
        request,
        back,
        flash=f"议程已汇总（第{agenda.get('version', 1)}版），列入议题 {n} 项；签字不全的议题顺延至下次会议",
    )
