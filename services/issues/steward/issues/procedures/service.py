"""Approval procedures (审批代办): a project's file of procedures from the rules catalogue, each a
matter with the promised working days (green channel one third shorter); material submissions
answered within 1 working day by acceptance or ONE notice listing all corrections (一次性告知) — the
clock waits for the enterprise meanwhile; completion with delay attribution; handover (移交)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events import issues as ev
from steward.issues.context import IssuesContext
from steward.issues.matters import deadlines as dl
from steward.issues.matters import service as matters
from steward.issues.matters import timers, workflow
from steward.issues.matters.events import publish, record
from steward.issues.matters.models import OPEN_STATUSES, Matter
from steward.issues.matters.schemas import Kind, MatterCreate, Status, Tier
from steward.issues.procedures.models import ProcedureFile, Submission
from steward.issues.procedures.schemas import CompleteIn, DelayCause, FileCreate
from steward.issues.settings import SOURCE
from steward.kit.auth import Principal, Role
from steward.kit.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from steward.kit.outbox import emit
from steward.kit.timers import DueTimer, Rearm, cancel, schedule

NOTICE_TIMER = "issues.notice"
AGENTS = (*workflow.HANDLERS, Role.AGENT)
DONE = ("closed",)


async def open_file(
    ctx: IssuesContext, *, principal: Principal, data: FileCreate, token: str | None
) -> ProcedureFile:
    if principal.is_enterprise or not principal.has(*AGENTS):
        raise Forbidden("requires an agent or dispatching role", code="role_required")
    base = MatterCreate(kind=Kind.PROCEDURE, project_id=data.project_id, title="代办")
    prep = await matters.prepare(ctx, principal=principal, data=base, token=token)
    catalogue = prep.rules.matters
    codes = [p.code for p in data.procedures]
    unknown = [c for c in codes if catalogue.procedure(c) is None]
    if unknown:
        raise matters.bad(
            "procedures",
            f"unknown procedure codes {unknown}; catalogue: {[p.code for p in catalogue.procedures]}",
        )
    if len(set(codes)) != len(codes):
        raise matters.bad("procedures", "a procedure is listed twice")
    assert prep.project is not None
    now = ctx.clock()
    async with ctx.db.transaction() as session:
        f = ProcedureFile(
            tenant_code=prep.tenant,
            tenant_path="/".join(a["code"] for a in prep.ancestry),
            project_id=prep.project.id,
            project_code=prep.project.code,
            project_name=prep.project.name,
            owner_unit_id=prep.project.owner_unit_id or None,
            key_level=prep.project.key_level,
            level1_agent=data.level1_agent,
            green_channel=data.green_channel,
            created_by=principal.subject,
            created_at=now,
        )
        session.add(f)
        await session.flush()
        for item in data.procedures:
            spec = catalogue.procedure(item.code)
            assert spec is not None
            green = data.green_channel if item.green_channel is None else item.green_channel
            days = catalogue.promised_days(item.code, green_channel=green)
            body = MatterCreate(
                kind=Kind.PROCEDURE,
                project_id=data.project_id,
                title=f"{spec.name_zh}（{prep.project.name}）",
                tier=Tier.UNIT,
                responsible_unit_name=spec.department,
                responsible_person=item.level2_agent,
            )
            details = {
                "procedure": {
                    "code": spec.code,
                    "name_zh": spec.name_zh,
                    "department": spec.department,
                    "level": spec.level,
                    "difficulty": spec.difficulty,
                    "catalogue_days": spec.promised_days,
                    "promised_days": days,
                    "green_channel": green,
                    "level1_agent": data.level1_agent,
                    "level2_agent": item.level2_agent,
                }
            }
            m = await matters.file(
                session,
                principal=principal,
                data=body,
                prep=prep,
                now=now,
                details=details,
                sla_days=days,
                procedure_file_id=f.id,
            )
            m.status = Status.ACCEPTED.value
            m.accepted_at = now
            await record(
                session,
                m,
                actor=principal.subject,
                action="accepted",
                at=now,
                from_status="filed",
                to_status=m.status,
                reason="代办受理，按目录分解至审批部门",
            )
            await publish(
                session, m, ev.MatterAccepted, actor=principal.subject, responsible_unit_name=spec.department
            )
        return f


async def get_file(session: AsyncSession, *, principal: Principal, file_id: uuid.UUID) -> ProcedureFile:
    f = await session.get(ProcedureFile, file_id)
    if f is None or principal.tenant not in ("*", *f.tenant_path.split("/")):
        raise NotFound("procedure file not found")
    if principal.is_enterprise and f.owner_unit_id != principal.unit:
        raise NotFound("procedure file not found")
    return f


async def procedures_of(session: AsyncSession, f: ProcedureFile) -> list[Matter]:
    stmt = (
        select(Matter)
        .where(Matter.procedure_file_id == f.id)
        .order_by(col(Matter.filed_at), col(Matter.number))
    )
    return list((await session.exec(stmt)).all())


def _procedure(m: Matter) -> dict[str, object]:
    if m.kind != Kind.PROCEDURE.value:
        raise InvalidTransition("this is not a procedure", code="not_a_procedure")
    return dict(m.details.get("procedure") or {})


async def submit(
    session: AsyncSession, *, principal: Principal, key: str, materials: list[str], note: str, now: datetime
) -> Submission:
    """The enterprise (or its agent) hands in materials; the answer is due within N working days."""
    m = await matters.get(session, principal=principal, key=key, lock=True)
    _procedure(m)
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
        data["paused_working_days"] = await workflow._resume(session, m, now)
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


async def _file_of(session: AsyncSession, m: Matter) -> ProcedureFile:
    f = await session.get(ProcedureFile, m.procedure_file_id)
    assert f is not None
    return f


async def issue_notice(
    session: AsyncSession, *, principal: Principal, submission_id: uuid.UUID, items: list[str], now: datetime
) -> Submission:
    """一次性告知: one notice per submission listing every correction; recorded with its lateness."""
    s, m = await _submission(session, principal, submission_id)
    workflow.ensure_worker(principal, m)
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
    proc = _procedure(m)
    if m.paused_at is None:  # waiting on the enterprise's corrections: the SLA clock stops
        m.paused_at = now
        m.pause_reason = "一次性告知：等待企业补正材料"
        await timers.disarm(session, m)
    m.updated_at = now
    m.row_version += 1
    await record(
        session,
        m,
        actor=principal.subject,
        action="notice_issued",
        at=now,
        reason="；".join(items),
        data={"submission_id": str(s.id), "items": items, "late": s.late, "due_at": s.due_at.isoformat()},
    )
    f = await _file_of(session, m)
    await emit(
        session,
        ev.ProcedureNoticeIssued(
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
        tenant=m.tenant_code,
        source=SOURCE,
        subject=str(m.id),
        actor=principal.subject,
    )
    return s


async def accept_submission(
    session: AsyncSession, *, principal: Principal, submission_id: uuid.UUID, now: datetime
) -> Submission:
    s, m = await _submission(session, principal, submission_id)
    workflow.ensure_worker(principal, m)
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
    await record(
        session,
        m,
        actor=timers.SYSTEM,
        action="notice_late",
        at=now,
        data={"submission_id": str(s.id), "due_at": s.due_at.isoformat()},
    )
    f = await _file_of(session, m)
    await emit(
        session,
        ev.ProcedureNoticeLate(
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
        tenant=m.tenant_code,
        source=SOURCE,
        subject=str(m.id),
        actor=timers.SYSTEM,
    )
    return None


async def complete(
    session: AsyncSession, *, principal: Principal, key: str, body: CompleteIn, now: datetime
) -> Matter:
    """办结. Late and caused by the department → the delay is attributed to the level-2 agent."""
    m = await matters.get(session, principal=principal, key=key, lock=True)
    proc = _procedure(m)
    workflow.ensure_worker(principal, m)
    if m.status not in (Status.ACCEPTED.value, Status.IN_PROGRESS.value):
        raise InvalidTransition(f"cannot complete a procedure that is {m.status}")
    if m.paused_at is not None:
        raise InvalidTransition("the procedure waits on the enterprise's corrections", code="paused")
    late = m.ever_overdue or now >= m.due_at
    if late and body.delay_cause is None:
        raise matters.bad("delay_cause", "completed after the promised time: say what caused the delay")
    attributed = str(proc.get("level2_agent")) if late and body.delay_cause is DelayCause.DEPARTMENT else None
    await timers.disarm(session, m)
    pending = (
        await session.exec(
            select(Submission).where(Submission.matter_id == m.id, Submission.status == "pending")
        )
    ).all()
    for s in pending:  # completing the procedure accepts the materials in hand
        s.status, s.decided_at, s.decided_by = "complete", now, principal.subject
        await cancel(session, kind=NOTICE_TIMER, key=str(s.id))
    before = m.status
    m.status = Status.CLOSED.value
    m.resolved_at = m.closed_at = now
    m.resolution = body.note or "办结"
    m.updated_at = now
    m.row_version += 1
    cause = body.delay_cause.value if body.delay_cause else None
    await record(
        session,
        m,
        actor=principal.subject,
        action="completed",
        at=now,
        from_status=before,
        to_status=m.status,
        reason=body.note,
        data={"overdue": late, "delay_cause": cause, "delay_attributed_to": attributed},
    )
    seconds = max(0, int((now - m.filed_at).total_seconds()))
    await publish(
        session,
        m,
        ev.MatterResolved,
        actor=principal.subject,
        resolution=m.resolution,
        overdue=late,
        seconds_to_resolve=seconds,
    )
    await publish(
        session, m, ev.MatterClosed, actor=principal.subject, overdue=late, escalations=m.escalations
    )
    f = await _file_of(session, m)
    await emit(
        session,
        ev.ProcedureCompleted(
            file_id=str(f.id),
            project_id=f.project_id,
            project_code=f.project_code,
            level=f.key_level,
            matter_id=str(m.id),
            number=m.number,
            procedure_code=str(proc["code"]),
            procedure_name=str(proc["name_zh"]),
            department=str(proc["department"]),
            procedure_level=str(proc["level"]),
            difficulty=str(proc["difficulty"]),
            green_channel=bool(proc["green_channel"]),
            promised_days=int(str(proc["promised_days"])),
            overdue=late,
            delay_cause=cause,
            level1_agent=f.level1_agent,
            level2_agent=str(proc.get("level2_agent") or "") or None,
            delay_attributed_to=attributed,
        ),
        tenant=m.tenant_code,
        source=SOURCE,
        subject=str(m.id),
        actor=principal.subject,
    )
    return m


async def handover(
    session: AsyncSession, *, principal: Principal, file_id: uuid.UUID, received_by: str, now: datetime
) -> ProcedureFile:
    """移交: only when every procedure of the file is done; the event drives the satisfaction survey."""
    f = await get_file(session, principal=principal, file_id=file_id)
    if principal.is_enterprise or not principal.has(*AGENTS):
        raise Forbidden("requires an agent or dispatching role", code="role_required")
    f = (await session.exec(select(ProcedureFile).where(ProcedureFile.id == f.id).with_for_update())).one()
    if f.status != "open":
        raise InvalidTransition("the file was handed over already", code="already_handed_over")
    procs = await procedures_of(session, f)
    unfinished = [m.number for m in procs if m.status not in DONE]
    if unfinished:
        raise InvalidTransition(
            "every procedure must be completed before the handover",
            code="procedures_unfinished",
            details=[
                {
                    "loc": ["procedures"],
                    "message": f"unfinished: {unfinished}",
                    "type": "procedures_unfinished",
                }
            ],
        )
    f.status = "handed_over"
    f.handed_over_at = now
    f.received_by = received_by
    agents = sorted({str(m.details.get("procedure", {}).get("level2_agent")) for m in procs})
    await emit(
        session,
        ev.ProcedureHandedOver(
            file_id=str(f.id),
            project_id=f.project_id,
            project_code=f.project_code,
            level=f.key_level,
            procedures=[str(m.details.get("procedure", {}).get("code")) for m in procs],
            level1_agent=f.level1_agent,
            level2_agents=agents,
            received_by=received_by,
            owner_unit_id=f.owner_unit_id,
        ),
        tenant=f.tenant_code,
        source=SOURCE,
        subject=str(f.id),
        actor=principal.subject,
    )
    return f


async def notices(
    session: AsyncSession, *, principal: Principal, base_path: str | None, late_only: bool, limit: int
) -> list[Submission]:
    """Material submissions and their notices in a subtree; ``late_only`` = the supervisors' view."""
    if principal.is_enterprise:
        raise Forbidden("supervision views are for staff", code="role_required")
    from steward.kit.tenancy import subtree_clause

    stmt = select(Submission)
    if base_path is not None:
        stmt = stmt.where(subtree_clause(Submission.tenant_path, base_path))
    if late_only:
        stmt = stmt.where(Submission.late == True)  # noqa: E712
    stmt = stmt.order_by(col(Submission.submitted_at).desc()).limit(limit)
    return list((await session.exec(stmt)).all())


def ensure_valid_items(items: list[str]) -> list[str]:
    clean = [i.strip() for i in items if i.strip()]
    if len(clean) != len(items):
        raise ValidationFailed("notice items must not be blank", code="blank_item")
    return clean
