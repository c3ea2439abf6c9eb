"""An approval system's message applied as the same state changes an agent makes by hand
(steward.issues.procedures): materials handed in, accepted or answered by ONE notice of all
corrections, completed (办结) — with the same history rows, audit entries and events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.issues.inbound.schemas import ProcedureAccepted, ProcedureApproved, ProcedureReturned
from steward.issues.matters.models import Matter
from steward.issues.matters.schemas import Kind, Status
from steward.issues.procedures import completion, submissions
from steward.issues.procedures.models import ProcedureFile, Submission
from steward.issues.procedures.schemas import CompleteIn, DelayCause
from steward.kit.auth import Principal
from steward.kit.errors import InvalidTransition, NotFound
from steward.kit.tenancy import in_subtree

ApprovalMessage = ProcedureAccepted | ProcedureApproved | ProcedureReturned
RECEIVED = "（经审批系统收件）"


async def find_procedure(session: AsyncSession, *, principal: Principal, msg: ApprovalMessage) -> Matter:
    """The project's procedure of that code in the sender's subtree (the open one first); a project
    the sender cannot see is as unknown as one that does not exist."""
    files = (
        await session.exec(select(ProcedureFile).where(ProcedureFile.project_code == msg.project_code))
    ).all()
    ids = [f.id for f in files if in_subtree(principal.tenant, f.tenant_path.split("/"))]
    if not ids:
        raise NotFound(f"no procedure file for project {msg.project_code}", code="unknown_project")
    stmt = (
        select(Matter)
        .where(
            col(Matter.procedure_file_id).in_(ids),
            Matter.kind == Kind.PROCEDURE.value,
            Matter.details["procedure"]["code"].astext == msg.procedure_code,
        )
        .order_by(col(Matter.closed_at).desc().nulls_first(), col(Matter.filed_at).desc())
    )
    m = (await session.exec(stmt)).first()
    if m is None:
        raise NotFound(
            f"project {msg.project_code} has no procedure {msg.procedure_code}", code="unknown_procedure"
        )
    return m


async def _pending(session: AsyncSession, m: Matter) -> Submission | None:
    stmt = select(Submission).where(Submission.matter_id == m.id, Submission.status == "pending")
    return (await session.exec(stmt)).first()


async def _pending_or_received(
    session: AsyncSession, *, principal: Principal, m: Matter, materials: list[str], note: str, now: datetime
) -> Submission:
    """The submission under review; when the materials were handed in at the sender's window, they
    are recorded here first, as the enterprise's agent would."""
    s = await _pending(session, m)
    if s is None:
        s = await submissions.submit(
            session, principal=principal, key=str(m.id), materials=materials or [RECEIVED], note=note, now=now
        )
    return s


async def accepted(
    session: AsyncSession, *, principal: Principal, msg: ProcedureAccepted, now: datetime
) -> Matter:
    m = await find_procedure(session, principal=principal, msg=msg)
    if m.status == Status.IN_PROGRESS.value and await _pending(session, m) is None:
        raise InvalidTransition("the procedure was accepted already", code="already_accepted")
    s = await _pending_or_received(
        session, principal=principal, m=m, materials=msg.materials, note=msg.note, now=now
    )
    await submissions.accept_submission(session, principal=principal, submission_id=s.id, now=now)
    return m


async def returned(
    session: AsyncSession, *, principal: Principal, msg: ProcedureReturned, now: datetime
) -> Matter:
    m = await find_procedure(session, principal=principal, msg=msg)
    s = await _pending_or_received(
        session, principal=principal, m=m, materials=msg.materials, note=msg.note, now=now
    )
    items = submissions.ensure_valid_items(msg.corrections)
    await submissions.issue_notice(session, principal=principal, submission_id=s.id, items=items, now=now)
    return m


async def approved(
    session: AsyncSession, *, principal: Principal, msg: ProcedureApproved, now: datetime
) -> Matter:
    m = await find_procedure(session, principal=principal, msg=msg)
    late = m.ever_overdue or now >= m.due_at
    cause = msg.delay_cause or (DelayCause.OTHER if late else None)
    note = f"审批通过，许可证号 {msg.licence_no}" + (f"；{msg.note}" if msg.note else "")
    m = await completion.complete(
        session,
        principal=principal,
        key=str(m.id),
        body=CompleteIn(delay_cause=cause if late else None, note=note),
        now=now,
    )
    m.details = {**m.details, "licence_no": msg.licence_no}
    flag_modified(m, "details")
    return m


async def apply(
    session: AsyncSession, *, principal: Principal, msg: ApprovalMessage, now: datetime
) -> dict[str, Any]:
    if isinstance(msg, ProcedureAccepted):
        m = await accepted(session, principal=principal, msg=msg, now=now)
    elif isinstance(msg, ProcedureReturned):
        m = await returned(session, principal=principal, msg=msg, now=now)
    else:
        m = await approved(session, principal=principal, msg=msg, now=now)
    return {
        "matter_id": str(m.id),
        "number": m.number,
        "status": m.status,
        "paused": m.paused_at is not None,
    }
