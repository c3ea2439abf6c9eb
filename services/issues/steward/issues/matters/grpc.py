"""gRPC handlers of the matters domain (CreateMatter, GetMatter, ListMatters, MatterStatusReport)."""

from __future__ import annotations

import uuid
from datetime import UTC, date

import sqlalchemy as sa
from pydantic import ValidationError
from sqlmodel import col, select

from steward.api.issues.v1 import issues_pb2 as pb
from steward.issues.context import IssuesContext
from steward.issues.matters import deadlines as dl
from steward.issues.matters import service
from steward.issues.matters.models import OPEN_STATUSES, Matter
from steward.issues.matters.schemas import DecisionDetails, Kind, MatterCreate, MatterFilter, Status
from steward.kit.auth import Principal, Role
from steward.kit.errors import Forbidden, ValidationFailed, pydantic_details
from steward.kit.grpc import timestamp
from steward.kit.inputs import clean
from steward.kit.paging import scoped


def to_pb(m: Matter) -> pb.Matter:
    return pb.Matter(
        id=str(m.id),
        number=m.number,
        tenant=m.tenant_code,
        handling_tenant=m.handling_tenant,
        kind=m.kind,
        status=m.status,
        tier=m.tier,
        category=m.category or "",
        sub_item=m.sub_item or "",
        title=m.title,
        description=m.description,
        project_id=m.project_id or "",
        project_code=m.project_code or "",
        project_name=m.project_name or "",
        reporter=m.reporter,
        responsible_unit_id=m.responsible_unit_id or "",
        responsible_unit_name=m.responsible_unit_name or "",
        responsible_person=m.responsible_person or "",
        filed_at=timestamp(m.filed_at),
        due_at=timestamp(m.due_at),
        due_date=dl.due_date(m.due_at).isoformat(),
        sla_days=m.sla_days,
        overdue=m.overdue,
        escalations=m.escalations,
        paused=m.paused_at is not None,
        resolved_at=timestamp(m.resolved_at),
        closed_at=timestamp(m.closed_at),
        resolution=m.resolution or "",
        rating=m.rating or 0,
        meeting_id=m.meeting_id or "",
        decision_id=m.decision_id or "",
    )


def _create_body(request: pb.CreateMatterRequest) -> MatterCreate:
    raw: dict[str, object] = {
        "kind": request.kind,
        "title": request.title,
        "description": request.description,
        "project_id": request.project_id or None,
        "tenant": request.tenant or None,
        "category": request.category or None,
        "sub_item": request.sub_item or None,
        "tier": request.tier or None,
        "difficult": request.difficult,
        "responsible_unit_id": request.responsible_unit_id or None,
        "responsible_unit_name": request.responsible_unit_name or None,
        "responsible_person": request.responsible_person or None,
        "idempotency_key": request.idempotency_key or None,
    }
    try:
        if request.due_date:
            raw["due_date"] = date.fromisoformat(request.due_date)
        if request.meeting_id:
            raw["decision"] = DecisionDetails(
                meeting_id=request.meeting_id, decision_id=request.decision_id or None
            )
        return MatterCreate.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed("request is not valid", details=pydantic_details(list(exc.errors()))) from exc
    except ValueError as exc:
        raise ValidationFailed(f"due_date: {exc}", code="invalid_date") from exc


async def create_matter(
    ctx: IssuesContext, principal: Principal, request: pb.CreateMatterRequest, token: str | None
) -> pb.Matter:
    clean(reporter=request.reporter, due_date=request.due_date)
    body = _create_body(request)
    if request.kind == Kind.COMPLAINT.value:
        raise ValidationFailed("file complaints over REST (they need complaint details)", code="use_rest")
    if request.reporter:
        # naming another reporter hands them the feedback rights (confirm, close, rate): only other
        # Steward services (meetings filing a decision for its chair) may do that
        if not principal.has(Role.SERVICE):
            raise Forbidden(
                "only services may file on behalf of another reporter", code="reporter_not_allowed"
            )
        if len(request.reporter) > 200:
            raise ValidationFailed("reporter: at most 200 characters", code="invalid_reporter")
    prep = await service.prepare(ctx, principal=principal, data=body, token=token)
    async with service.filing_session(ctx.db, body) as session:
        m = await service.file(
            session,
            principal=principal,
            data=body,
            prep=prep,
            now=ctx.clock(),
            reporter=request.reporter or None,
            alone=True,
        )
        return to_pb(m)


async def get_matter(ctx: IssuesContext, principal: Principal, request: pb.GetMatterRequest) -> pb.Matter:
    if not request.id_or_number:
        raise ValidationFailed("id_or_number is required")
    clean(id_or_number=request.id_or_number)
    async with ctx.db.read() as session:
        return to_pb(await service.get(session, principal=principal, key=request.id_or_number))


async def list_matters(
    ctx: IssuesContext, principal: Principal, request: pb.ListMattersRequest
) -> pb.ListMattersResponse:
    from steward.issues.matters.views import base_path

    clean(
        tenant=request.tenant,
        page_token=request.page_token,
        project_id=request.project_id,
        responsible_unit_id=request.responsible_unit_id,
        meeting_id=request.meeting_id,
    )
    try:
        f = MatterFilter(
            tenant=request.tenant or None,
            kinds=[Kind(k) for k in request.kinds],
            statuses=[Status(s) for s in request.statuses],
            overdue=True if request.overdue_only else None,
            open_only=request.open_only,
            project_id=request.project_id or None,
            responsible_unit_id=request.responsible_unit_id or None,
            meeting_id=request.meeting_id or None,
        )
    except ValueError as exc:
        raise ValidationFailed(f"invalid filter: {exc}") from exc
    size = request.page_size or 50
    if not 1 <= size <= 200:
        raise ValidationFailed("page_size must be between 1 and 200")
    path = await base_path(ctx, principal, f.tenant)
    async with ctx.db.read() as session:
        rows, nxt = await service.list_matters(
            session, principal=principal, f=f, base_path=path, limit=size, cursor=request.page_token or None
        )
        return pb.ListMattersResponse(matters=[to_pb(m) for m in rows], next_page_token=nxt or "")


async def status_report(
    ctx: IssuesContext, principal: Principal, request: pb.MatterStatusReportRequest
) -> pb.MatterStatusReportResponse:
    """For the next meeting's supervision report: where each decision stands (unknown → found=false)."""
    wanted = list(request.ids)
    if not wanted or len(wanted) > 500:
        raise ValidationFailed("ids: give between 1 and 500 matter ids or numbers")
    clean(ids=wanted)
    ids, numbers = [], []
    for key in wanted:
        try:
            ids.append(uuid.UUID(key))
        except ValueError:
            numbers.append(key)
    now = ctx.clock()
    async with ctx.db.read() as session:
        rows = (
            await session.exec(
                select(Matter).where(sa.or_(col(Matter.id).in_(ids), col(Matter.number).in_(numbers)))
            )
        ).all()
    found = {str(m.id): m for m in rows if service.can_see(principal, m)}
    found.update({m.number: m for m in found.values()})
    out = pb.MatterStatusReportResponse()
    for key in wanted:
        m = found.get(key)
        if m is None:
            out.items.append(pb.MatterStatus(requested=key, found=False))
            continue
        end = m.resolved_at or now
        late = dl.working_days_overdue(dl.calendar_of(m.policy), m.due_at, end) if end >= m.due_at else 0
        out.items.append(
            pb.MatterStatus(
                requested=key,
                found=True,
                id=str(m.id),
                number=m.number,
                title=m.title,
                status=m.status,
                responsible_unit_name=m.responsible_unit_name or "",
                due_date=dl.due_date(m.due_at).isoformat(),
                overdue=m.overdue or (m.status in OPEN_STATUSES and now >= m.due_at),
                working_days_overdue=late,
                resolution=m.resolution or "",
                escalations=m.escalations,
            )
        )
        if m.status in OPEN_STATUSES:
            out.open += 1
        elif m.status in ("resolved", "confirmed"):
            out.resolved += 1
        elif m.status == "closed":
            out.closed += 1
        if m.overdue:
            out.overdue += 1
    return out


async def matters_of_person(
    ctx: IssuesContext, principal: Principal, request: pb.MattersOfPersonRequest
) -> pb.MattersOfPersonResponse:
    """A person's matters active in [since, until) (the agents' weekly work report)."""
    from steward.issues.matters.views import base_path

    names = [n for n in request.names if n]
    clean(tenant=request.tenant, subject=request.subject, names=names)
    if not request.subject and not names:
        raise ValidationFailed("give the person's subject or names")
    if len(names) > 10 or any(len(n) > 200 for n in [*names, request.subject]):
        raise ValidationFailed("at most 10 names of at most 200 characters")
    if not request.HasField("since") or not request.HasField("until"):
        raise ValidationFailed("since and until are required")
    since, until = request.since.ToDatetime(tzinfo=UTC), request.until.ToDatetime(tzinfo=UTC)
    if until <= since:
        raise ValidationFailed("until must be after since")
    limit = request.limit or 100
    if not 1 <= limit <= 500:
        raise ValidationFailed("limit must be between 1 and 500")
    path = await base_path(ctx, principal, request.tenant or None)
    who = []
    if request.subject:
        who.append(col(Matter.reporter) == request.subject)
    if names:
        who.append(col(Matter.responsible_person).in_(names))
    stmt = (
        scoped(select(Matter), Matter.tenant_path, path)
        .where(
            sa.or_(*who),
            col(Matter.filed_at) < until,
            sa.or_(col(Matter.resolved_at).is_(None), col(Matter.resolved_at) >= since),
            sa.or_(col(Matter.closed_at).is_(None), col(Matter.closed_at) >= since),
        )
        .order_by(col(Matter.filed_at), col(Matter.id))
        .limit(limit + 1)
    )
    if principal.is_enterprise:
        stmt = stmt.where(Matter.owner_unit_id == (principal.unit or "-"))
    async with ctx.db.read() as session:
        rows = list((await session.exec(stmt)).all())
    return pb.MattersOfPersonResponse(matters=[to_pb(m) for m in rows[:limit]], truncated=len(rows) > limit)
