"""REST API of matters: filing, work queues, filters with keyset pagination, timeline, workflow."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.issues.context import CtxDep, IssuesContext, TokenDep
from steward.issues.matters import feedback, listing, pausing, service, workflow
from steward.issues.matters.schemas import (
    AcceptIn,
    AssignIn,
    CloseIn,
    EscalateIn,
    HistoryItem,
    Kind,
    MatterCreate,
    MatterFilter,
    MatterList,
    MatterOut,
    NoteIn,
    RateIn,
    Reason,
    Status,
    TextIn,
    Tier,
    Timeline,
)
from steward.kit.auth import Principal
from steward.kit.errors import ValidationFailed
from steward.kit.http import PrincipalDep
from steward.kit.inputs import TENANT_PATTERN, clean_request, ensure_tenant_code
from steward.kit.tenancy import ALL_TENANTS, ensure_visible

router = APIRouter(prefix="/v1/matters", tags=["matters"], dependencies=[Depends(clean_request)])
TenantQuery = Annotated[str | None, Query(pattern=TENANT_PATTERN, description="a tenant code")]


async def base_path(ctx: IssuesContext, principal: Principal, tenant: str | None) -> str | None:
    """Materialised path of the subtree root to list (the caller's tenant unless narrowed)."""
    code = tenant or principal.tenant
    if code == ALL_TENANTS:
        return None
    ensure_tenant_code(code)
    codes = await ctx.registry.ancestry_codes(code)
    ensure_visible(principal, codes, what="tenant")
    return "/".join(codes)


@router.post(
    "", response_model=MatterOut, status_code=201, summary="File a matter (numbered; deadline fixed now)"
)
async def file_matter(ctx: CtxDep, principal: PrincipalDep, token: TokenDep, body: MatterCreate) -> MatterOut:
    prep = await service.prepare(ctx, principal=principal, data=body, token=token)
    async with service.filing_session(ctx.db, body) as session:
        m = await service.file(
            session, principal=principal, data=body, prep=prep, now=ctx.clock(), alone=True
        )
        return service.to_out(m)


Limit = Annotated[int, Query(ge=1, le=200)]


@router.get(
    "", response_model=MatterList, summary="Matters in a tenant subtree, newest first (keyset paging)"
)
async def list_matters(
    ctx: CtxDep,
    principal: PrincipalDep,
    tenant: TenantQuery = None,
    kind: Annotated[list[Kind] | None, Query()] = None,
    status: Annotated[list[Status] | None, Query()] = None,
    tier: Annotated[list[Tier] | None, Query()] = None,
    category: str | None = None,
    project_id: str | None = None,
    responsible_unit_id: str | None = None,
    handling_tenant: TenantQuery = None,
    meeting_id: str | None = None,
    overdue: bool | None = None,
    open_only: bool = False,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> Response:
    f = MatterFilter(
        tenant=tenant,
        kinds=kind or [],
        statuses=status or [],
        tiers=tier or [],
        category=category,
        project_id=project_id,
        responsible_unit_id=responsible_unit_id,
        handling_tenant=handling_tenant,
        meeting_id=meeting_id,
        overdue=overdue,
        open_only=open_only,
        q=q,
    )
    return await _list(ctx, principal, f, limit, cursor)


async def _list(
    ctx: IssuesContext, principal: Principal, f: MatterFilter, limit: int, cursor: str | None
) -> Response:
    path = await base_path(ctx, principal, f.tenant)
    async with ctx.db.read() as session:
        page = await listing.list_page(
            session, principal=principal, f=f, base_path=path, limit=limit, cursor=cursor
        )
    # validated once in list_page: the bytes FastAPI would write for it, without its second pass
    return Response(content=page.model_dump_json(), media_type="application/json")


@router.get("/queues/my-unit", response_model=MatterList, summary="Work queue: my unit's open matters")
async def my_unit(
    ctx: CtxDep, principal: PrincipalDep, limit: Limit = 50, cursor: str | None = None
) -> Response:
    if not principal.unit:
        raise ValidationFailed("your token names no unit", code="no_unit")
    f = MatterFilter(responsible_unit_id=principal.unit, open_only=True)
    return await _list(ctx, principal, f, limit, cursor)


@router.get(
    "/queues/overdue", response_model=MatterList, summary="Work queue: overdue open matters in my subtree"
)
async def overdue(
    ctx: CtxDep,
    principal: PrincipalDep,
    tenant: TenantQuery = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> Response:
    f = MatterFilter(tenant=tenant, overdue=True, open_only=True)
    return await _list(ctx, principal, f, limit, cursor)


@router.get("/{key}", response_model=MatterOut, summary="One matter by id or number")
async def get_matter(ctx: CtxDep, principal: PrincipalDep, key: str) -> MatterOut:
    return service.to_out(await service.read(ctx.db, principal=principal, key=key))


@router.get("/{key}/timeline", response_model=Timeline, summary="Append-only history: who, when, what, why")
async def timeline(ctx: CtxDep, principal: PrincipalDep, key: str) -> Timeline:
    async with ctx.db.read() as session:
        m = await service.get(session, principal=principal, key=key)
        rows = await service.history(session, matter=m)
        return Timeline(
            matter_id=m.id,
            number=m.number,
            items=[
                HistoryItem(
                    at=r.at,
                    actor=r.actor,
                    action=r.action,
                    from_status=r.from_status,
                    to_status=r.to_status,
                    reason=r.reason,
                    data=r.data,
                )
                for r in rows
            ],
        )


Action = Callable[..., Awaitable[Any]]


async def _act(ctx: IssuesContext, principal: Principal, key: str, fn: Action, **kwargs: Any) -> MatterOut:
    async with ctx.db.transaction() as session:
        session_: AsyncSession = session
        m = await fn(session_, principal=principal, key=key, now=ctx.clock(), **kwargs)
        return service.to_out(m)


@router.post(
    "/{key}/accept", response_model=MatterOut, summary="Sort (分拣) to a responsible unit and accept"
)
async def accept(ctx: CtxDep, principal: PrincipalDep, key: str, body: AcceptIn) -> MatterOut:
    return await _act(ctx, principal, key, workflow.accept, body=body)


@router.post("/{key}/assign", response_model=MatterOut, summary="Reassign the responsible unit or person")
async def assign(ctx: CtxDep, principal: PrincipalDep, key: str, body: AssignIn) -> MatterOut:
    return await _act(ctx, principal, key, workflow.assign, body=body)


@router.post("/{key}/start", response_model=MatterOut)
async def start(ctx: CtxDep, principal: PrincipalDep, key: str, body: NoteIn) -> MatterOut:
    return await _act(ctx, principal, key, workflow.start, note=body.note)


@router.post(
    "/{key}/answer", response_model=MatterOut, summary="A clear answer (difficult matters: in 3 working days)"
)
async def answer(ctx: CtxDep, principal: PrincipalDep, key: str, body: TextIn) -> MatterOut:
    return await _act(ctx, principal, key, workflow.answer, text=body.text)


@router.post("/{key}/resolve", response_model=MatterOut)
async def resolve(ctx: CtxDep, principal: PrincipalDep, key: str, body: TextIn) -> MatterOut:
    return await _act(ctx, principal, key, workflow.resolve, text=body.text)


@router.post("/{key}/confirm", response_model=MatterOut, summary="Reporter confirms the resolution")
async def confirm(ctx: CtxDep, principal: PrincipalDep, key: str, body: NoteIn) -> MatterOut:
    return await _act(ctx, principal, key, feedback.confirm, note=body.note)


@router.post("/{key}/reopen", response_model=MatterOut, summary="Reporter does not accept the resolution")
async def reopen(ctx: CtxDep, principal: PrincipalDep, key: str, body: Reason) -> MatterOut:
    return await _act(ctx, principal, key, feedback.reopen, reason=body.reason)


@router.post(
    "/{key}/close", response_model=MatterOut, summary="Close (optionally with the 5-level evaluation)"
)
async def close(ctx: CtxDep, principal: PrincipalDep, key: str, body: CloseIn) -> MatterOut:
    return await _act(ctx, principal, key, feedback.close, body=body)


@router.post(
    "/{key}/rate", response_model=MatterOut, summary="Reporter's 5-level evaluation of a closed matter"
)
async def rate(ctx: CtxDep, principal: PrincipalDep, key: str, body: RateIn) -> MatterOut:
    return await _act(ctx, principal, key, feedback.rate, body=body)


@router.post("/{key}/reject", response_model=MatterOut)
async def reject(ctx: CtxDep, principal: PrincipalDep, key: str, body: Reason) -> MatterOut:
    return await _act(ctx, principal, key, workflow.reject, reason=body.reason)


@router.post("/{key}/return", response_model=MatterOut, summary="Return to the reporter (the clock waits)")
async def return_(ctx: CtxDep, principal: PrincipalDep, key: str, body: Reason) -> MatterOut:
    return await _act(ctx, principal, key, pausing.return_, reason=body.reason)


@router.post("/{key}/resubmit", response_model=MatterOut)
async def resubmit(ctx: CtxDep, principal: PrincipalDep, key: str, body: TextIn) -> MatterOut:
    return await _act(ctx, principal, key, pausing.resubmit, text=body.text)


@router.post(
    "/{key}/pause", response_model=MatterOut, summary="Stop the SLA clock while waiting on the enterprise"
)
async def pause(ctx: CtxDep, principal: PrincipalDep, key: str, body: Reason) -> MatterOut:
    return await _act(ctx, principal, key, pausing.pause, reason=body.reason)


@router.post(
    "/{key}/resume", response_model=MatterOut, summary="Run the clock again (deadline + paused working days)"
)
async def resume(ctx: CtxDep, principal: PrincipalDep, key: str, body: NoteIn) -> MatterOut:
    return await _act(ctx, principal, key, pausing.resume, note=body.note)


@router.post(
    "/{key}/escalate", response_model=MatterOut, summary="Escalate one tier up, or onto the weekly meeting"
)
async def escalate(ctx: CtxDep, principal: PrincipalDep, key: str, body: EscalateIn) -> MatterOut:
    return await _act(ctx, principal, key, workflow.escalate, body=body)
