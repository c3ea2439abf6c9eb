"""Compilation (每周五重点办汇总整理会议议题): the agenda in the series' fixed order —

1. ``supervision_report`` — 督查室汇报上次会议研究事项落实情况: every decision of the series' last
   held meeting with the state the issues service reports (MatterStatusReport): done, in progress,
   overdue (working days late), with numbers and owners;
2. ``project_problems`` — each signed topic with slots for the responsible unit's report and the
   departments' statements (相关部门表态发言), the chair then fixing unit and deadline;
3. ``chair_summary`` — 主持人总结讲话.

A topic missing a required sign-off is never compiled: it moves to the next meeting (the backlog).
The status report is fetched before the transaction (no database lock held over a network call)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events import meetings as ev
from steward.kit.auth import Principal
from steward.kit.changes import record_change
from steward.kit.clients.issues import IssuesClient
from steward.meetings.access import subjects
from steward.meetings.agenda import service as agenda
from steward.meetings.agenda.models import Agenda, Topic
from steward.meetings.decisions.models import Decision
from steward.meetings.meetings import backlog
from steward.meetings.meetings import service as meetings
from steward.meetings.meetings.models import Meeting
from steward.meetings.metrics import DECISIONS_STATE, TOPICS_PER_MEETING
from steward.meetings.settings import SOURCE
from steward.rules import MeetingSeries

DONE = ("resolved", "confirmed", "closed")
TITLES = {
    "supervision_report": "督查室汇报上次会议研究事项落实情况",
    "project_problems": "研究项目存在的困难和问题",
    "chair_summary": "会议主持人总结讲话",
}
NUMERALS = "一二三四五六七八九十"


@dataclass
class Supervision:
    previous: Meeting | None = None
    decisions: list[Decision] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)  # matter id -> MatterStatus


async def previous_meeting(session: AsyncSession, m: Meeting) -> Meeting | None:
    if m.series_id is None:
        return None
    stmt = (
        select(Meeting)
        .where(
            Meeting.series_id == m.series_id, Meeting.status == "held", col(Meeting.starts_at) < m.starts_at
        )
        .order_by(col(Meeting.starts_at).desc())
        .limit(1)
    )
    return (await session.exec(stmt)).first()


async def gather(session: AsyncSession, m: Meeting) -> Supervision:
    prev = await previous_meeting(session, m)
    if prev is None:
        return Supervision()
    rows = await session.exec(
        select(Decision).where(Decision.meeting_id == prev.id).order_by(col(Decision.number))
    )
    return Supervision(previous=prev, decisions=list(rows.all()))


async def fetch_status(issues: IssuesClient, sup: Supervision) -> None:
    ids = [d.matter_id for d in sup.decisions if d.matter_id]
    if ids:
        for item in await issues.status_report(ids):
            sup.status[item.requested] = item


def supervision_part(sup: Supervision, spec: MeetingSeries | None) -> dict[str, Any]:
    items, tally = [], Counter[str]()
    for d in sup.decisions:
        st = sup.status.get(d.matter_id or "")
        if d.matter_id is None:
            state = "not_filed"
        elif st is None or not st.found:
            state = "unknown"
        elif st.status in DONE:
            state = "done"
        elif st.overdue:
            state = "overdue"
        else:
            state = "in_progress"
        tally[state] += 1
        items.append(
            {
                "decision_id": str(d.id),
                "number": d.number,
                "text": d.text,
                "responsible_unit": d.responsible_unit_name,
                "responsible_person": d.responsible_person,
                "due_date": d.due_date.isoformat(),
                "matter_id": d.matter_id,
                "matter_number": d.matter_number,
                "state": state,
                "matter_status": st.status if st is not None and st.found else None,
                "working_days_overdue": int(st.working_days_overdue) if st is not None and st.found else 0,
                "resolution": st.resolution if st is not None and st.found else "",
            }
        )
    return {
        "part": "supervision_report",
        "title": TITLES["supervision_report"],
        "by": spec.supervision_unit if spec else "督查室",
        "previous_meeting": (
            {
                "id": str(sup.previous.id),
                "title": sup.previous.title,
                "held_at": (sup.previous.held_at or sup.previous.starts_at).isoformat(),
            }
            if sup.previous
            else None
        ),
        "summary": {k: tally.get(k, 0) for k in ("done", "in_progress", "overdue", "not_filed", "unknown")}
        | {"total": len(items)},
        "items": items,
    }


def topic_item(position: int, t: Topic, signoffs: list[Any], spec: MeetingSeries | None) -> dict[str, Any]:
    statements = spec.department_statements if spec else True
    return {
        "position": position,
        "topic_id": str(t.id),
        "title": t.title,
        "project_id": t.project_id,
        "project_name": t.project_name,
        "unit_name": t.unit_name,
        "problem": t.problem,
        "request": t.request,
        "urgent": t.urgent,
        "urgent_reason": t.urgent_reason,
        "matter_ids": list(t.matter_ids),
        "signoffs": [
            {"role": s.role, "name": s.name, "signed_at": s.signed_at.isoformat()} for s in signoffs
        ],
        "slots": {
            "report": {"unit": t.unit_name, "text": None},
            "statements": [{"unit": d, "text": None} for d in t.departments] if statements else [],
            "decision": {"unit": None, "deadline": None},
        },
    }


async def compile_agenda(
    session: AsyncSession, *, principal: Principal, m: Meeting, sup: Supervision, now: datetime
) -> tuple[Agenda, int]:
    """Compile (or recompile) ``m``'s agenda; returns it and the number of topics deferred."""
    meetings.ensure_open(m, "compile")
    series = await meetings.series_of(session, m)
    spec = meetings.spec_of(series)
    required = set(agenda.required_signoffs(m, spec))
    topics = list(
        (
            await session.exec(
                select(Topic)
                .where(Topic.meeting_id == m.id, col(Topic.status).in_(("submitted", "compiled")))
                .order_by(col(Topic.urgent).desc(), col(Topic.submitted_at), col(Topic.id))
                .with_for_update()
            )
        ).all()
    )
    signed = await agenda.signoffs_of(session, [t.id for t in topics])
    ready = [t for t in topics if {s.role for s in signed[t.id]} >= required]
    ready_ids = {t.id for t in ready}
    unsigned = [t.id for t in topics if t.id not in ready_ids]
    problems = []
    for i, t in enumerate(ready, start=1):
        t.status, t.position, t.updated_at = "compiled", i, now
        problems.append(topic_item(i, t, signed[t.id], spec))
    deferred = (
        await backlog.carry_topics(session, m=m, reason="unsigned", topic_ids=unsigned) if unsigned else 0
    )
    parts: dict[str, dict[str, Any]] = {
        "supervision_report": supervision_part(sup, spec),
        "project_problems": {
            "part": "project_problems",
            "title": TITLES["project_problems"],
            "items": problems,
        },
        "chair_summary": {"part": "chair_summary", "title": TITLES["chair_summary"], "chair": m.chair_name},
    }
    order = list(spec.agenda_order) if spec else list(TITLES)
    document = {
        "meeting": {
            "id": str(m.id),
            "title": m.title,
            "starts_at": m.starts_at.isoformat(),
            "location": m.location,
        },
        "parts": [parts[p] | {"heading": f"{NUMERALS[i]}、{parts[p]['title']}"} for i, p in enumerate(order)],
        "not_compiled": [str(i) for i in unsigned if deferred == 0],
    }
    row = await session.get(Agenda, m.id, with_for_update=True)
    if row is None:
        row = Agenda(
            meeting_id=m.id, version=1, document=document, compiled_by=principal.subject, compiled_at=now
        )
        session.add(row)
    else:
        row.version += 1
        row.document, row.compiled_by, row.compiled_at = document, principal.subject, now
    m.status, m.compiled_at = "compiled", now
    sup_part = parts["supervision_report"]
    TOPICS_PER_MEETING.observe(len(ready))
    if sup.previous is not None:
        for state in ("done", "in_progress", "overdue", "not_filed"):
            DECISIONS_STATE.labels(m.tenant_code, state).set(sup_part["summary"][state])
    await record_change(
        session,
        actor=principal.subject,
        tenant=m.tenant_code,
        action="compile",
        entity="meeting",
        entity_id=str(m.id),
        changes={"version": row.version, "topics": len(ready), "deferred": deferred},
        event=ev.AgendaCompiled(
            meeting_id=str(m.id),
            series_key=m.series_key,
            version=row.version,
            topics=len(ready),
            deferred=deferred,
            supervision_items=sup_part["summary"]["total"],
            supervision_overdue=sup_part["summary"]["overdue"],
            attendee_subjects=subjects(m.participants),
        ),
        source=SOURCE,
        subject=str(m.id),
    )
    await session.flush()
    return row, deferred
