"""Running the meeting (the organiser's record): attendance per person in the statuses the meetings
service has (出席、迟到、请假 with the reason、委派代表 with the deputy's name、缺席、列席), reports and
statements, decisions (议定事项: each filed as a ``decision`` matter in the issues service by the
meetings service; the list polls with htmx until every matter number is there) and closing the
record (会议已召开)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from steward.console.api import ApiError, gather
from steward.console.views.meetings_common import (
    ATTENDANCE,
    MEETING_STATUS,
    TOPIC_STATUS,
    directory,
    is_organizer,
    refused,
)
from steward.console.web import ApiDep, Csrf, UserDep, form_opt, form_str, redirect, render

router = APIRouter()
STATEMENT_KIND = {"report": "责任单位汇报", "statement": "相关部门表态发言", "summary": "主持人总结"}


def _roster(m: dict[str, Any], recorded: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The participants, then anyone recorded who was not on the list, each with their record."""
    by_person = {a["person"]: a for a in recorded}
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for p in m.get("participants", []):
        person = p.get("subject") or p.get("name")
        if not person or person in seen:
            continue
        seen.add(person)
        rows.append({**p, "person": person, "record": by_person.get(person)})
    for a in recorded:
        if a["person"] not in seen:
            seen.add(a["person"])
            rows.append(
                {"person": a["person"], "name": a["name"], "unit_name": a.get("unit_name"), "record": a}
            )
    return rows


@router.get("/meetings/{meeting_id}/run")
async def run_page(request: Request, meeting_id: str, user: UserDep, api: ApiDep) -> Response:
    m = await api.get("meetings", f"/v1/meetings/{meeting_id}")
    attendance, decisions, statements, topics, minutes, found = await gather(
        api.maybe("meetings", f"/v1/meetings/{meeting_id}/attendance", None),
        api.maybe("meetings", f"/v1/meetings/{meeting_id}/decisions", None),
        api.maybe("meetings", f"/v1/meetings/{meeting_id}/statements", None),
        api.maybe("meetings", "/v1/topics", None, meeting_id=meeting_id, limit=200),
        api.maybe("meetings", f"/v1/meetings/{meeting_id}/minutes", None),
        directory(api, m["tenant"]),
    )
    recorded = (attendance or {}).get("items", [])
    topic_rows = [t for t in (topics or {}).get("items", []) if t.get("status") in ("compiled", "discussed")]
    return render(
        request,
        "meeting_run.html",
        nav="meetings",
        m=m,
        roster=_roster(m, recorded),
        counts=(attendance or {}).get("counts", {}),
        decisions=(decisions or {}).get("items", []),
        statements=(statements or {}).get("items", []),
        topics=topic_rows,
        topic_titles={t["id"]: t["title"] for t in (topics or {}).get("items", [])},
        units=found["units"],
        closed=bool(minutes and minutes.get("status") == "issued")
        or m.get("status") in ("cancelled", "skipped"),
        attendance=ATTENDANCE,
        statement_kind=STATEMENT_KIND,
        status=MEETING_STATUS,
        topic_status=TOPIC_STATUS,
        organizer=is_organizer(user),
    )


@router.post("/meetings/{meeting_id}/attendance", dependencies=[Csrf])
async def record_attendance(request: Request, meeting_id: str, user: UserDep, api: ApiDep) -> Response:
    form = await request.form()
    back = f"/meetings/{meeting_id}/run#attendance"
    items: list[dict[str, Any]] = []
    for i in range(int(form_str(form, "rows") or 0)):
        status = form_str(form, f"status-{i}")
        if not status:
            continue  # not recorded yet
        items.append(
            {
                "person": form_str(form, f"person-{i}"),
                "name": form_str(form, f"name-{i}"),
                "unit_id": form_opt(form, f"unit_id-{i}"),
                "unit_name": form_opt(form, f"unit_name-{i}"),
                "status": status,
                "reason": form_opt(form, f"reason-{i}"),
                "deputy_name": form_opt(form, f"deputy-{i}"),
            }
        )
    extra = form_str(form, "extra_name")
    if extra and form_str(form, "extra_status"):
        items.append(
            {
                "person": extra,
                "name": extra,
                "unit_name": form_opt(form, "extra_unit"),
                "status": form_str(form, "extra_status"),
                "reason": form_opt(form, "extra_reason"),
                "deputy_name": form_opt(form, "extra_deputy"),
            }
        )
    if not items:
        return redirect(request, back, flash="未能记录出席情况：请至少为一人选择出席情况")
    try:
        result = await api.call(
            "PUT", "meetings", f"/v1/meetings/{meeting_id}/attendance", json={"items": items}
        )
    except ApiError as exc:
        return refused(request, back, "记录出席情况", exc)
    c = result.get("counts", {})
    summary = "，".join(f"{label} {c.get(k, 0)} 人" for k, label in ATTENDANCE.items() if c.get(k))
    return redirect(request, back, flash=f"出席情况已记录：{summary}")


@router.post("/meetings/{meeting_id}/statements", dependencies=[Csrf])
async def add_statement(request: Request, meeting_id: str, user: UserDep, api: ApiDep) -> Response:
    form = await request.form()
    back = f"/meetings/{meeting_id}/run#statements"
    body = {
        "topic_id": form_opt(form, "topic_id"),
        "kind": form_str(form, "kind") or "statement",
        "unit_name": form_str(form, "unit_name"),
        "speaker": form_str(form, "speaker"),
        "text": form_str(form, "text"),
    }
    try:
        await api.post("meetings", f"/v1/meetings/{meeting_id}/statements", body)
    except ApiError as exc:
        return refused(request, back, "记录发言", exc)
    return redirect(request, back, flash="发言已记录")


@router.post("/meetings/{meeting_id}/decisions", dependencies=[Csrf])
async def record_decision(request: Request, meeting_id: str, user: UserDep, api: ApiDep) -> Response:
    form = await request.form()
    back = f"/meetings/{meeting_id}/run#decisions"
    unit_id, _, unit_name = form_str(form, "unit").partition("|")
    body = {
        "topic_id": form_opt(form, "topic_id"),
        "text": form_str(form, "text"),
        "responsible_unit_id": unit_id or None,
        "responsible_unit_name": unit_name or form_str(form, "unit_other"),
        "responsible_person": form_opt(form, "person"),
        "due_date": form_opt(form, "due_date"),
    }
    try:
        d = await api.post("meetings", f"/v1/meetings/{meeting_id}/decisions", body)
    except ApiError as exc:
        return refused(request, back, "记录会议决定", exc)
    how = "主持人确定" if d.get("deadline_source") == "chair" else "按规则默认工作日"
    return redirect(
        request,
        back,
        flash=f"第{d.get('number')}项决定已记录（{how}期限），正在立项为督办事项",
    )


@router.get("/meetings/{meeting_id}/decisions")
async def decisions_fragment(request: Request, meeting_id: str, user: UserDep, api: ApiDep) -> Response:
    """The decisions list alone (htmx polls it while a matter is being filed)."""
    decisions, topics = await gather(
        api.get("meetings", f"/v1/meetings/{meeting_id}/decisions"),
        api.maybe("meetings", "/v1/topics", None, meeting_id=meeting_id, limit=200),
    )
    return render(
        request,
        "_meeting_decisions.html",
        m={"id": meeting_id},
        decisions=decisions.get("items", []),
        topic_titles={t["id"]: t["title"] for t in (topics or {}).get("items", [])},
    )


@router.post("/meetings/{meeting_id}/hold", dependencies=[Csrf])
async def hold(request: Request, meeting_id: str, user: UserDep, api: ApiDep) -> Response:
    back = f"/meetings/{meeting_id}/run"
    try:
        await api.post("meetings", f"/v1/meetings/{meeting_id}/hold", {})
    except ApiError as exc:
        return refused(request, back, "结束会议", exc)
    return redirect(
        request,
        f"/meetings/{meeting_id}/minutes",
        flash="会议记录已结束（已召开）；未研究的议题转入下次会议。请起草会议纪要",
    )
