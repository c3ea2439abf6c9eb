"""Approval procedures (审批代办): a project's file of procedures from the rules catalogue, each a
matter with the promised working days (green channel one third shorter). Material submissions and
one-time notices (一次性告知) are in :mod:`.submissions`; completion (办结, delay attribution) and
handover (移交) in :mod:`.completion`."""

from __future__ import annotations

import uuid

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events import issues as ev
from steward.issues.context import IssuesContext
from steward.issues.matters import service as matters
from steward.issues.matters.access import HANDLERS
from steward.issues.matters.events import matter_event, record
from steward.issues.matters.filing import bad, look_up_filing
from steward.issues.matters.models import Matter
from steward.issues.matters.schemas import Kind, MatterCreate, Status, Tier
from steward.issues.procedures.models import ProcedureFile, Submission
from steward.issues.procedures.schemas import FileCreate
from steward.kit.auth import Principal, Role
from steward.kit.errors import Forbidden, InvalidTransition, NotFound
from steward.kit.paging import keyset_page, scoped

AGENTS = (*HANDLERS, Role.AGENT)
DONE = ("closed",)


async def open_file(
    ctx: IssuesContext, *, principal: Principal, data: FileCreate, token: str | None
) -> ProcedureFile:
    if principal.is_enterprise or not principal.has(*AGENTS):
        raise Forbidden("requires an agent or dispatching role", code="role_required")
    prep = await look_up_filing(
        ctx, principal=principal, kind=Kind.PROCEDURE, project_id=data.project_id, tenant=None, token=token
    )

    catalogue = prep.rules.matters
    codes = [p.code for p in data.procedures]
    unknown = [c for c in codes if catalogue.procedure(c) is None]
    if unknown:
        raise bad(
            "procedures",
            f"unknown procedure codes {unknown}; catalogue: {[p.code for p in catalogue.procedures]}",
        )
    if len(set(codes)) != len(codes):
        raise bad("procedures", "a procedure is listed twice")
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
                event=matter_event(m, ev.MatterAccepted, responsible_unit_name=spec.department),
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


def procedure_details(m: Matter) -> dict[str, object]:
    if m.kind != Kind.PROCEDURE.value:
        raise InvalidTransition("this is not a procedure", code="not_a_procedure")
    return dict(m.details.get("procedure") or {})


async def file_of(session: AsyncSession, m: Matter) -> ProcedureFile:
    f = await session.get(ProcedureFile, m.procedure_file_id)
    assert f is not None
    return f


async def notices(
    session: AsyncSession, *, principal: Principal, base_path: str | None, late_only: bool, limit: int
) -> list[Submission]:
    """Material submissions and their notices in a subtree; ``late_only`` = the supervisors' view."""
    if principal.is_enterprise:
        raise Forbidden("supervision views are for staff", code="role_required")
    stmt = scoped(select(Submission), Submission.tenant_path, base_path)
    if late_only:
        stmt = stmt.where(Submission.late == True)  # noqa: E712
    order = (Submission.submitted_at, Submission.id)
    rows, _ = await keyset_page(session, stmt, order=order, cursor=None, limit=limit)
    return rows
