"""Topics (议题): the submission form for a meeting with its cut-off facts (the deadline, why it
moved, what happens to a late topic), one topic with the sign-offs the rules require and who is
still missing, signing off (签字), keeping a late topic on its meeting as urgent (with the reason)
and withdrawing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from steward.console.api import Api, ApiError, gather
from steward.console.fmt import SHANGHAI, _parse_dt
from steward.console.session import User
from steward.console.views.meetings_common import (
    KIND,
    MEETING_STATUS,
    OPEN,
    SIGNOFF_ROLE,
    TOPIC_STATUS,
    can_submit,
    cutoff_facts,
    directory,
    is_organizer,
    refusal,
    refused,
    series_spec,
)
from steward.console.web import ApiDep, Csrf, UserDep, form_str, lines, redirect, render

router = APIRouter()


def _past_deadline(m: dict[str, Any]) -> bool:
    deadline = _parse_dt(m.get("agenda_deadline_at"))
    return m.get("kind") == "regular" and isinstance(deadline, datetime) and datetime.now(SHANGHAI) > deadline


async def _form(
    request: Request,
    user: User,
    api: Api,
    m: dict[str, Any],
    *,
    values: dict[str, Any],
    error: str = "",
) -> Response:
    spec, found = await gather(series_spec(api, m), directory(api, m["tenant"]))
    return render(
        request,
        "topic_new.html",
        422 if error else 200,
        nav="meetings",
        m=m,
        facts=cutoff_facts(m, spec),
        required=[SIGNOFF_ROLE.get(r, r) for r in (spec or {}).get("required_signoffs", list(SIGNOFF_ROLE))],
        late=_past_deadline(m),
        units=found["units"],
        projects=found["projects"],
        values=values,
        error=error,
        kinds=KIND,
        status=MEETING_STATUS,
    )


@router.get("/meetings/{meeting_id}/topics/new")
async def new_topic(request: Request, meeting_id: str, user: UserDep, api: ApiDep) -> Response:
    m = await api.get("meetings", f"/v1/meetings/{meeting_id}")
    if m.get("status") not in OPEN:
        return render(
            request, "error.html", 409, title="不能申报", message="会议已召开或已取消，不再接受议题"
        )
    values: dict[str, Any] = {"unit": "", "departments": []}
    if user.unit:
        values["unit_id"] = user.unit
    return await _form(request, user, api, m, values=values)


@router.post("/meetings/{meeting_id}/topics", dependencies=[Csrf])
async def submit_topic(request: Request, meeting_id: str, user: UserDep, api: ApiDep) -> Response:
    m = await api.get("meetings", f"/v1/meetings/{meeting_id}")
    form = await request.form()
    values: dict[str, Any] = {
        k: form_str(form, k) for k in ("title", "problem", "request", "unit", "project", "matters")
    }
    values["departments"] = [v for v in form.getlist("departments") if isinstance(v, str) and v]
    unit_id, _, unit_name = values["unit"].partition("|")
    if not unit_name:
        return await _form(request, user, api, m, values=values, error="请选择申报单位")
    body = {
        "meeting_id": meeting_id,
        "title": values["title"],
        "problem": values["problem"],
        "request": values["request"],
        "unit_id": unit_id or None,
        "unit_name": unit_name,
        "departments": values["departments"],
        "project_id": values["project"] or None,
        "matter_ids": lines(values["matters"]),
    }
    try:
        t = await api.post("meetings", "/v1/topics", body)
    except ApiError as exc:
        if exc.status >= 500 or exc.status == 401:
            raise
        return await _form(request, user, api, m, values=values, error=refusal(exc))
    if t.get("late"):
        flash = "已过申报截止时间，议题已顺延至下次会议；确属紧急的，由重点项目办列为紧急议题"
    else:
        flash = "议题已申报，请单位主要领导和分管县级领导签字"
    return redirect(request, f"/topics/{t['id']}", flash=flash)


@router.get("/topics/{topic_id}")
async def topic(request: Request, topic_id: str, user: UserDep, api: ApiDep) -> Response:
    t = await api.get("meetings", f"/v1/topics/{topic_id}")
    on, requested = await gather(
        api.maybe("meetings", f"/v1/meetings/{t['meeting_id']}", None),
        api.maybe("meetings", f"/v1/meetings/{t['requested_meeting_id']}", None)
        if t.get("requested_meeting_id") and t["requested_meeting_id"] != t["meeting_id"]
        else _none(),
    )
    signed = {s["role"]: s for s in t.get("signoffs", [])}
    required = [*signed, *[r for r in t.get("missing_signoffs", []) if r not in signed]]
    return render(
        request,
        "topic_detail.html",
        nav="meetings",
        t=t,
        m=on or {},
        requested=requested,
        required=required,
        signed=signed,
        signoff_role=SIGNOFF_ROLE,
        topic_status=TOPIC_STATUS,
        status=MEETING_STATUS,
        can_sign=user.has("leader") and t.get("status") in ("submitted", "compiled"),
        organizer=is_organizer(user),
        submitter=can_submit(user),
        own=t.get("submitter") == user.sub,
    )


async def _none() -> None:
    return None


@router.post("/topics/{topic_id}/sign", dependencies=[Csrf])
async def sign(request: Request, topic_id: str, user: UserDep, api: ApiDep) -> Response:
    form = await request.form()
    role = form_str(form, "role")
    body = {"role": role, "name": form_str(form, "name") or user.name, "comment": form_str(form, "comment")}
    back = f"/topics/{topic_id}"
    try:
        t = await api.post("meetings", f"/v1/topics/{topic_id}/signoffs", body)
    except ApiError as exc:
        return refused(request, back, "签字", exc)
    missing = "、".join(SIGNOFF_ROLE.get(r, r) for r in t.get("missing_signoffs", []))
    done = f"已以{SIGNOFF_ROLE.get(role, role)}身份签字"
    return redirect(request, back, flash=f"{done}；尚缺：{missing}" if missing else f"{done}，签字已齐全")


@router.post("/topics/{topic_id}/urgent", dependencies=[Csrf])
async def urgent(request: Request, topic_id: str, user: UserDep, api: ApiDep) -> Response:
    form = await request.form()
    back = f"/topics/{topic_id}"
    try:
        await api.post("meetings", f"/v1/topics/{topic_id}/urgent", {"reason": form_str(form, "reason")})
    except ApiError as exc:
        return refused(request, back, "列为紧急议题", exc)
    return redirect(request, back, flash="已列为紧急议题，保留在原定会议")


@router.post("/topics/{topic_id}/withdraw", dependencies=[Csrf])
async def withdraw(request: Request, topic_id: str, user: UserDep, api: ApiDep) -> Response:
    form = await request.form()
    back = f"/topics/{topic_id}"
    try:
        await api.post("meetings", f"/v1/topics/{topic_id}/withdraw", {"reason": form_str(form, "reason")})
    except ApiError as exc:
        return refused(request, back, "撤回议题", exc)
    return redirect(request, back, flash="议题已撤回")
