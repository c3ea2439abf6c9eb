"""REST API of the minutes: draft, chair sign-off, issue, DOCX and printable HTML, acknowledgements."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from steward.kit.http import PrincipalDep
from steward.kit.inputs import clean_request
from steward.meetings.access import ensure_organizer
from steward.meetings.context import CtxDep
from steward.meetings.meetings import service as meetings
from steward.meetings.minutes import render, service
from steward.meetings.minutes.schemas import MinutesDraft, MinutesOut, SignMinutesIn

router = APIRouter(prefix="/v1/meetings", tags=["minutes"], dependencies=[Depends(clean_request)])
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@router.put("/{meeting_id}/minutes", response_model=MinutesOut, summary="Draft the minutes from the record")
async def draft(ctx: CtxDep, principal: PrincipalDep, meeting_id: str, body: MinutesDraft) -> MinutesOut:
    async with ctx.db.transaction() as session:
        m = await meetings.get(session, principal=principal, meeting_id=meeting_id, lock=True)
        ensure_organizer(principal)
        mi = await service.draft(session, principal=principal, m=m, data=body, now=ctx.clock())
        return service.to_out(mi, await service.acks_of(session, m.id))


@router.get(
    "/{meeting_id}/minutes", response_model=MinutesOut, summary="The minutes and who has acknowledged"
)
async def get_minutes(ctx: CtxDep, principal: PrincipalDep, meeting_id: str) -> MinutesOut:
    async with ctx.db.read() as session:
        m = await meetings.get(session, principal=principal, meeting_id=meeting_id)
        return service.to_out(await service.get(session, m), await service.acks_of(session, m.id))


@router.post(
    "/{meeting_id}/minutes/sign", response_model=MinutesOut, summary="The chair signs the minutes off"
)
async def sign(ctx: CtxDep, principal: PrincipalDep, meeting_id: str, body: SignMinutesIn) -> MinutesOut:
    async with ctx.db.transaction() as session:
        m = await meetings.get(session, principal=principal, meeting_id=meeting_id, lock=True)
        mi = await service.sign(session, principal=principal, m=m, now=ctx.clock())
        return service.to_out(mi, await service.acks_of(session, m.id))


@router.post(
    "/{meeting_id}/minutes/issue", response_model=MinutesOut, summary="Issue the signed minutes (下发)"
)
async def issue(ctx: CtxDep, principal: PrincipalDep, meeting_id: str) -> MinutesOut:
    async with ctx.db.transaction() as session:
        m = await meetings.get(session, principal=principal, meeting_id=meeting_id, lock=True)
        ensure_organizer(principal)
        mi = await service.issue(session, principal=principal, m=m, now=ctx.clock())
        return service.to_out(mi, await service.acks_of(session, m.id))


@router.post("/{meeting_id}/minutes/ack", response_model=MinutesOut, summary="Acknowledge receipt (签收)")
async def acknowledge(ctx: CtxDep, principal: PrincipalDep, meeting_id: str) -> MinutesOut:
    async with ctx.db.transaction() as session:
        m = await meetings.get(session, principal=principal, meeting_id=meeting_id, lock=True)
        mi = await service.acknowledge(session, principal=principal, m=m, now=ctx.clock())
        return service.to_out(mi, await service.acks_of(session, m.id))


@router.get("/{meeting_id}/minutes.docx", summary="The minutes as a Word document", response_class=Response)
async def minutes_docx(ctx: CtxDep, principal: PrincipalDep, meeting_id: str) -> Response:
    async with ctx.db.read() as session:
        m = await meetings.get(session, principal=principal, meeting_id=meeting_id)
        rec = await render.record_of(session, m, await service.get(session, m))
    filename = f"minutes-{m.id}.docx"
    return Response(
        render.docx_bytes(rec),
        media_type=DOCX,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/{meeting_id}/minutes.html", summary="The minutes as printable HTML", response_class=HTMLResponse
)
async def minutes_html(ctx: CtxDep, principal: PrincipalDep, meeting_id: str) -> HTMLResponse:
    async with ctx.db.read() as session:
        m = await meetings.get(session, principal=principal, meeting_id=meeting_id)
        rec = await render.record_of(session, m, await service.get(session, m))
    return HTMLResponse(render.html_page(rec))
