"""Completion of a procedure (办结; late and caused by the department → the delay is attributed to
the level-2 agent) and the handover of the whole file to the enterprise (移交)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events import issues as ev
from steward.issues.matters import service as matters
from steward.issues.matters import timers
from steward.issues.matters.access import ensure_worker
from steward.issues.matters.events import matter_event, publish, record
from steward.issues.matters.models import Matter
from steward.issues.matters.schemas import Status
from steward.issues.procedures.models import ProcedureFile, Submission
from steward.issues.procedures.schemas import CompleteIn, DelayCause
from steward.issues.procedures.service import (
    AGENTS,
    DONE,
    file_of,
    get_file,
    procedure_details,
    procedures_of,
)
from steward.issues.procedures.submissions import NOTICE_TIMER
from steward.issues.settings import SOURCE
from steward.kit.auth import Principal
from steward.kit.changes import record_change
from steward.kit.errors import Forbidden, InvalidTransition
from steward.kit.outbox import emit
from steward.kit.timers import cancel


async def complete(
    session: AsyncSession, *, principal: Principal, key: str, body: CompleteIn, now: datetime
) -> Matter:
    """办结. Late and caused by the department → the delay is attributed to the level-2 agent."""
    m = await matters.get(session, principal=principal, key=key, lock=True)
    proc = procedure_details(m)
    ensure_worker(principal, m)
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
    seconds = max(0, int((now - m.filed_at).total_seconds()))
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
        event=matter_event(
            m, ev.MatterResolved, resolution=m.resolution, overdue=late, seconds_to_resolve=seconds
        ),
    )

    await publish(
        session, m, ev.MatterClosed, actor=principal.subject, overdue=late, escalations=m.escalations
    )
    f = await file_of(session, m)
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
    await record_change(
        session,
        actor=principal.subject,
        tenant=f.tenant_code,
        action="handed_over",
        entity="procedure_file",
        entity_id=str(f.id),
        changes={"received_by": received_by},
        event=ev.ProcedureHandedOver(
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
        source=SOURCE,
        subject=str(f.id),
    )
    return f
