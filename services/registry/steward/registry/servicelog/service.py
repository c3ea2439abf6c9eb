"""Service log (服务台账): entries submitted by stewards/secretaries, approved or returned by the
business-environment bureau (营商局).

Approver: a principal with role ``tenant_admin`` or ``supervisor`` whose scope covers the entry's
tenant and — when the rules name ``service_log.approver_unit`` — whose ``unit`` claim is a unit of
that name (exact, contained, or the usual abbreviation: "营商局" for "营商环境建设局", same first two
characters and same last one). Nobody approves their own entry."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.registry_office import VisitApproved, VisitLogged, VisitReturned
from steward.kit import audit
from steward.kit.auth import Principal, Role
from steward.kit.changes import record_change
from steward.kit.db import utcnow
from steward.kit.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from steward.kit.paging import keyset_page, scoped
from steward.kit.tenancy import ancestry_of, ensure_writable
from steward.registry.projects.models import Project
from steward.registry.projects.service import ensure_can_see, get_project
from steward.registry.rosters.service import roster_roles
from steward.registry.rules.service import rules_of
from steward.registry.servicelog.models import ServiceLogEntry
from steward.registry.servicelog.schemas import EntryEdit, EntryIn, EntryOut, Participant
from steward.registry.settings import SOURCE
from steward.registry.tenants.service import get_visible_tenant
from steward.registry.units.models import Unit
from steward.rules import RulesDocument

AUTHORS = (
    Role.STEWARD,
    Role.SPECIALIST,
    Role.AGENT,
    Role.LIAISON,
    Role.LEADER,
    Role.DISPATCHER,
    Role.TENANT_ADMIN,
)
APPROVERS = (Role.TENANT_ADMIN, Role.SUPERVISOR)


def counts(entry: ServiceLogEntry, doc: RulesDocument) -> bool:
    if entry.status == "returned":
        return False
    return entry.status == "approved" or not doc.service_log.approval_required


def names_match(full: str, short: str) -> bool:
    full, short = full.strip(), short.strip()
    if not full or not short:
        return False
    if full == short or short in full:
        return True
    return len(short) >= 3 and full[:2] == short[:2] and full[-1] == short[-1] and len(full) > len(short)


async def _ensure_author(session: AsyncSession, principal: Principal, project: Project) -> None:
    if principal.is_enterprise:
        raise Forbidden("the service log is kept by stewards and secretaries", code="role_required")
    if principal.has(*AUTHORS):
        return
    if await roster_roles(session, subject=principal.subject, project_id=project.id):
        return
    raise Forbidden(
        "requires a steward/secretary role or a place on the project's roster", code="role_required"
    )


def _check_fields(data: EntryIn | ServiceLogEntry, doc: RulesDocument) -> None:
    missing = []
    for f in doc.service_log.required_fields:
        if (
            (f == "place" and not data.place.strip())
            or (f == "participants" and not data.participants)
            or (f == "problems_solved" and not data.problems_solved.strip())
        ):
            missing.append(f)
    if missing:
        raise ValidationFailed(
            f"the ledger requires: {', '.join(missing)}",
            code="ledger_fields_missing",
            details=[
                {"loc": [f], "message": "required by the tenant's rules", "type": "missing"} for f in missing
            ],
        )


async def submit(
    session: AsyncSession, *, principal: Principal, data: EntryIn
) -> tuple[ServiceLogEntry, Project]:
    project = await get_project(session, principal=principal, id_or_code=data.project)
    ensure_writable(principal, ancestry_of(project.tenant_path))
    await _ensure_author(session, principal, project)
    doc = await rules_of(session, project.tenant_code)
    _check_fields(data, doc)
    if data.visited_at > utcnow():
        raise ValidationFailed("visited_at lies in the future", code="visit_in_future")
    entry = ServiceLogEntry(
        project_id=project.id,
        tenant_code=project.tenant_code,
        tenant_path=project.tenant_path,
        kind=data.kind,
        on_site=data.on_site,
        visited_at=data.visited_at,
        place=data.place.strip(),
        participants=[p.model_dump(mode="json") for p in data.participants],
        problems_solved=data.problems_solved,
        matter_ids=list(dict.fromkeys(m.strip() for m in data.matter_ids if m.strip())),
        submitted_by=principal.subject,
    )
    session.add(entry)
    await session.flush()
    await record_change(
        session,
        actor=principal.subject,
        tenant=project.tenant_code,
        action="servicelog.submit",
        entity="service_log",
        entity_id=str(entry.id),
        changes=data.model_dump(mode="json"),
        event=VisitLogged(
            entry_id=str(entry.id),
            project_id=str(project.id),
            code=project.code,
            visited_at=entry.visited_at,
            on_site=entry.on_site,
        ),
        source=SOURCE,
        subject=str(project.id),
    )
    return entry, project


async def get_entry(
    session: AsyncSession, *, principal: Principal, entry_id: uuid.UUID, lock: bool = False
) -> tuple[ServiceLogEntry, Project]:
    stmt = select(ServiceLogEntry).where(ServiceLogEntry.id == entry_id)
    if lock:
        stmt = stmt.with_for_update()
    entry = (await session.exec(stmt)).first()
    if entry is None:
        raise NotFound("service log entry not found")
    project = await session.get(Project, entry.project_id)
    assert project is not None
    ensure_can_see(principal, project)
    return entry, project


async def ensure_approver(
    session: AsyncSession, principal: Principal, entry: ServiceLogEntry, doc: RulesDocument
) -> None:
    principal.require(*APPROVERS)
    ensure_writable(principal, ancestry_of(entry.tenant_path))
    if entry.submitted_by == principal.subject:
        raise Forbidden("an entry is reviewed by someone other than its author", code="own_entry")
    wanted = doc.service_log.approver_unit
    if not wanted:
        return
    unit = None
    if principal.unit:
        try:
            unit = await session.get(Unit, uuid.UUID(principal.unit))
        except ValueError:
            unit = None
    if (
        unit is None
        or not names_match(unit.name, wanted)
        or unit.tenant_code not in ancestry_of(entry.tenant_path)
    ):
        raise Forbidden(f"service log entries are reviewed by the {wanted}", code="not_the_approver")


async def review(
    session: AsyncSession, *, principal: Principal, entry_id: uuid.UUID, approve: bool, reason: str = ""
) -> tuple[ServiceLogEntry, Project]:
    entry, project = await get_entry(session, principal=principal, entry_id=entry_id, lock=True)
    doc = await rules_of(session, project.tenant_code)
    await ensure_approver(session, principal, entry, doc)
    if entry.status != "submitted":
        raise InvalidTransition(f"the entry is {entry.status}; only submitted entries are reviewed")
    entry.status = "approved" if approve else "returned"
    entry.reviewed_by = principal.subject
    entry.reviewed_at = utcnow()
    entry.return_reason = None if approve else reason
    entry.row_version += 1
    event = (
        VisitApproved(
            entry_id=str(entry.id),
            project_id=str(project.id),
            code=project.code,
            approved_by=principal.subject,
        )
        if approve
        else VisitReturned(
            entry_id=str(entry.id),
            project_id=str(project.id),
            code=project.code,
            returned_by=principal.subject,
            reason=reason,
        )
    )
    await record_change(
        session,
        actor=principal.subject,
        tenant=project.tenant_code,
        action="servicelog.approve" if approve else "servicelog.return",
        entity="service_log",
        entity_id=str(entry.id),
        changes={"status": entry.status, "reason": reason},
        event=event,
        source=SOURCE,
        subject=str(project.id),
    )
    return entry, project


async def resubmit(
    session: AsyncSession, *, principal: Principal, entry_id: uuid.UUID, data: EntryEdit
) -> tuple[ServiceLogEntry, Project]:
    """The author fixes a returned entry and sends it again."""
    entry, project = await get_entry(session, principal=principal, entry_id=entry_id, lock=True)
    if entry.submitted_by != principal.subject:
        raise Forbidden("only the author edits an entry", code="not_the_author")
    if entry.status != "returned":
        raise InvalidTransition("only a returned entry is edited and sent again")
    given = data.model_dump(exclude_unset=True)
    if "place" in given and data.place is not None:
        entry.place = data.place.strip()
    if "participants" in given and data.participants is not None:
        entry.participants = [p.model_dump(mode="json") for p in data.participants]
    if "problems_solved" in given and data.problems_solved is not None:
        entry.problems_solved = data.problems_solved
    if "on_site" in given and data.on_site is not None:
        entry.on_site = data.on_site
    _check_fields(entry_as_in(entry), await rules_of(session, project.tenant_code))
    entry.status = "submitted"
    entry.submitted_at = utcnow()
    entry.row_version += 1
    await audit.record(
        session,
        actor=principal.subject,
        tenant=project.tenant_code,
        action="servicelog.resubmit",
        entity="service_log",
        entity_id=str(entry.id),
        changes=data.model_dump(mode="json", exclude_unset=True),
    )
    return entry, project


def entry_as_in(e: ServiceLogEntry) -> EntryIn:
    return EntryIn(
        project=str(e.project_id),
        visited_at=e.visited_at,
        on_site=e.on_site,
        place=e.place,
        participants=[Participant.model_validate(p) for p in e.participants],
        problems_solved=e.problems_solved,
    )


async def list_entries(
    session: AsyncSession,
    *,
    principal: Principal,
    tenant: str | None,
    project: str | None,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[tuple[ServiceLogEntry, Project]]:
    base = await get_visible_tenant(session, principal=principal, code=tenant or principal.tenant)
    stmt = select(ServiceLogEntry, Project).join(Project, col(Project.id) == col(ServiceLogEntry.project_id))
    stmt = scoped(stmt, ServiceLogEntry.tenant_path, base.path)
    if principal.is_enterprise:
        stmt = stmt.where(Project.owner_unit_id == (uuid.UUID(principal.unit) if principal.unit else None))
    if project:
        p = await get_project(session, principal=principal, id_or_code=project)
        stmt = stmt.where(ServiceLogEntry.project_id == p.id)
    if status:
        stmt = stmt.where(ServiceLogEntry.status == status)
    if since:
        stmt = stmt.where(col(ServiceLogEntry.visited_at) >= since)
    if until:
        stmt = stmt.where(col(ServiceLogEntry.visited_at) < until)
    rows, _ = await keyset_page(
        session, stmt, order=(ServiceLogEntry.visited_at, ServiceLogEntry.id), cursor=None, limit=limit
    )
    return [(e, p) for e, p in rows]


def to_out(e: ServiceLogEntry, project: Project, doc: RulesDocument) -> EntryOut:
    return EntryOut(
        id=e.id,
        project_id=project.id,
        project_code=project.code,
        tenant=e.tenant_code,
        kind=e.kind,
        on_site=e.on_site,
        visited_at=e.visited_at,
        place=e.place,
        participants=[Participant.model_validate(p) for p in e.participants],
        problems_solved=e.problems_solved,
        matter_ids=list(e.matter_ids),
        status=e.status,  # type: ignore[arg-type]
        submitted_by=e.submitted_by,
        submitted_at=e.submitted_at,
        reviewed_by=e.reviewed_by,
        reviewed_at=e.reviewed_at,
        return_reason=e.return_reason,
        counts=counts(e, doc),
        row_version=e.row_version,
    )
