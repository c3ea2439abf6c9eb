"""Material submissions of a procedure: the enterprise hands in materials; within 1 working day the
agent accepts them or gives ONE notice listing all corrections (一次性告知) — recorded with its
lateness, the SLA clock waits for the enterprise meanwhile; the notice timer flags late answers."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events import issues as ev
from steward.issues.matters import deadlines as dl
from steward.issues.matters import service as matters
from steward.issues.matters import timers
from steward.issues.matters.access import ensure_worker
from steward.issues.matters.events import record
from steward.issues.matters.models import OPEN_STATUSES, Matter
from steward.issues.matters.pausing import resume_clock
from steward.issues.matters.schemas import Status
from steward.issues.procedures.models import Submission
from steward.issues.procedures.service import AGENTS, file_of, procedure_details
from steward.kit.auth import Principal
from steward.kit.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from steward.kit.timers import DueTimer, Rearm, cancel, schedule

NOTICE_TIMER = "issues.notice"


async def submit(
    session: AsyncSession, *, principal: Principal, key: str, materials: list[str], note: str, now: datetime
) -> Submission:
    """The enterprise (or its agent) hands in materials; the answer is due within N working days."""
    m = await matters.get(session, principal=principal, key=key, lock=True)
    procedure_details(m)
    if m.status not in OPEN_STATUSES:
        raise InvalidTransition(f"cannot submit materials for a procedure that is {m.status}")
    if not (principal.is_enterprise or principal.has(*AGENTS)):
        raise Forbidden("requires the enterprise contact or an agent", code="role_required")
    pending = (
        await session.exec(
            select(Submission).where(Submission.matter_id == m.id, Submission.status == "pending")
        )
    ).first()
    if pending is not None:
        raise Conflict("the previous submission is still being reviewed", code="submission_pending")
    cal = dl.calendar_of(m.policy)
    s = Submission(
        matter_id=m.id,
        file_id=m.procedure_file_id or uuid.uuid4(),
        tenant_code=m.tenant_code,
        tenant_path=m.tenant_path,
        submitted_by=principal.subject,
        submitted_at=now,
        materials=materials,
        note=note,
        due_at=dl.deadline(cal, now, int(m.policy.get("materials_notice_days", 1))),
    )
    session.add(s)
    await session.flush()
    await schedule(session, kind=NOTICE_TIMER, key=str(s.id), tenant=m.tenant_code, due_at=s.due_at)
    data: dict[str, object] = {
        "submission_id": str(s.id),
        "materials": materials,
        "notice_due_at": s.due_at.isoformat(),
    }
    if m.paused_at is not None:  # corrections arrived: the clock runs again
        data["paused_working_days"] = await resume_clock(session, m, now)
    m.updated_at = now
    m.row_version += 1
    await record(
        session, m, actor=principal.subject, action="materials_submitted", at=now, reason=note, data=data
    )
    return s


async def _submission(
    session: AsyncSession, principal: Principal, submission_id: uuid.UUID
) -> tuple[Submission, Matter]:
    s = (
        await session.exec(select(Submission).where(Submission.id == submission_id).with_for_update())
    ).first()
    if s is None:
        raise NotFound("submission not found")
    m = await matters.get(session, principal=principal, key=str(s.matter_id), lock=True)
    return s, m


async def issue_notice(
    session: AsyncSession, *, principal: Principal, submission_id: uuid.UUID, items: list[str], now: datetime
) -> Submission:
    """一次性告知: one notice per submission listing every correction; recorded with its lateness."""
    s, m = await _submission(session, principal, submission_id)
    ensure_worker(principal, m)
    if s.status != "pending":
        raise InvalidTransition(
            f"the submission was answered already ({s.status}); a notice is given once",
            code="already_answered",
        )
    s.status = "notice_issued"
    s.notice_items = items
    s.decided_at = now
    s.decided_by = principal.subject
    s.late = s.late or now >= s.due_at
    await cancel(session, kind=NOTICE_TIMER, key=str(s.id))
    proc = procedure_details(m)
    if m.paused_at is None:  # waiting on the enterprise's corrections: the SLA clock stops
        m.paused_at = now
        m.pause_reason = "一次性告知：等待企业补正材料"
        await timers.disarm(session, m)
    m.updated_at = now
    m.row_version += 1
    f = await file_of(session, m)
    await record(
        session,
        m,
        actor=principal.subject,
        action="notice_issued",
        at=now,
        reason="；".join(items),
        data={"submission_id": str(s.id), "items": items, "late": s.late, "due_at": s.due_at.isoformat()},
        event=ev.ProcedureNoticeIssued(
            file_id=str(f.id),
            project_id=f.project_id,
            project_code=f.project_code,
            level=f.key_level,
            matter_id=str(m.id),
            number=m.number,
            procedure_code=str(proc.get("code")),
            submission_id=str(s.id),
            items=items,
            submitted_at=s.submitted_at,
            due_at=s.due_at,
            late=s.late,
            issued_by=principal.subject,
            level2_agent=str(proc.get("level2_agent") or "") or None,
        ),
    )
    return s


async def accept_submission(
    session: AsyncSession, *, principal: Principal, submission_id: uuid.UUID, now: datetime
) -> Submission:
    s, m = await _submission(session, principal, submission_id)
    ensure_worker(principal, m)
    if s.status != "pending":
        raise InvalidTransition(f"the submission was answered already ({s.status})", code="already_answered")
    s.status = "complete"
    s.decided_at = now
    s.decided_by = principal.subject
    await cancel(session, kind=NOTICE_TIMER, key=str(s.id))
    before = m.status
    if m.status == Status.ACCEPTED.value:
        m.status = Status.IN_PROGRESS.value
    m.updated_at = now
    m.row_version += 1
    await record(
        session,
        m,
        actor=principal.subject,
        action="materials_complete",
        at=now,
        from_status=before,
        to_status=m.status,
        data={"submission_id": str(s.id)},
    )
    return s


async def on_notice_due(session: AsyncSession, timer: DueTimer, now: datetime) -> Rearm | None:
    s = (
        await session.exec(
            select(Submission).where(Submission.id == uuid.UUID(timer.key)).with_for_update(nowait=True)
        )
    ).first()
    if s is None or s.status != "pending" or s.late:
        return None
    if s.due_at > now:
        return Rearm(s.due_at)
    s.late = True
    m = await session.get(Matter, s.matter_id)
    assert m is not None
    proc = dict(m.details.get("procedure") or {})
    f = await file_of(session, m)
    await record(
        session,
        m,
        actor=timers.SYSTEM,
        action="notice_late",
        at=now,
        data={"submission_id": str(s.id), "due_at": s.due_at.isoformat()},
        event=ev.ProcedureNoticeLate(
            file_id=str(f.id),
            project_id=f.project_id,
            project_code=f.project_code,
            level=f.key_level,
            matter_id=str(m.id),
            number=m.number,
            procedure_code=str(proc.get("code")),
            submission_id=str(s.id),
            submitted_at=s.submitted_at,
            due_at=s.due_at,
            level2_agent=str(proc.get("level2_agent") or "") or None,
        ),
    )
    return None


def ensure_valid_items(items: list[str]) -> list[str]:
    clean = [i.strip() for i in items if i.strip()]
    if len(clean) != len(items):
        raise ValidationFailed("notice items must not be blank", code="blank_item")
    return clean
