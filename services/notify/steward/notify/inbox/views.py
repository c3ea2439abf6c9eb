"""REST for the in-app inbox: list, unread count, mark read; live stream over SSE."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request
from sse_starlette.sse import EventSourceResponse

from steward.kit.db import utcnow
from steward.kit.http import DatabaseDep, PrincipalDep
from steward.kit.inputs import clean_request
from steward.notify.context import CtxDep
from steward.notify.inbox import service
from steward.notify.inbox.schemas import MarkedRead, MessageList, MessageOut, UnreadCount

router = APIRouter(prefix="/v1/inbox", tags=["inbox"], dependencies=[Depends(clean_request)])


@router.get("", response_model=MessageList, summary="Your messages, newest first")
async def list_view(
    db: DatabaseDep,
    principal: PrincipalDep,
    unread: bool = False,
    limit: int = Query(default=50, ge=1, le=200),
    cursor: str | None = None,
) -> MessageList:
    async with db.read() as session:
        rows, nxt = await service.list_messages(
            session, principal=principal, unread=unread, limit=limit, cursor=cursor
        )
        return MessageList(items=[service.message_out(m) for m in rows], next_cursor=nxt)


@router.get("/unread-count", response_model=UnreadCount)
async def unread_view(db: DatabaseDep, principal: PrincipalDep) -> UnreadCount:
    async with db.read() as session:
        return UnreadCount(unread=await service.unread_count(session, principal=principal))


@router.post("/{message_id}/read", response_model=MessageOut)
async def read_view(db: DatabaseDep, principal: PrincipalDep, message_id: uuid.UUID) -> MessageOut:
    async with db.transaction() as session:
        row = await service.get_own(session, principal=principal, message_id=message_id)
        if row.read_at is None:
            row.read_at = utcnow()
            session.add(row)
        return service.message_out(row)


@router.post("/read-all", response_model=MarkedRead)
async def read_all_view(db: DatabaseDep, principal: PrincipalDep) -> MarkedRead:
    async with db.transaction() as session:
        return MarkedRead(
            marked=await service.mark_read(session, principal=principal, ids=None, now=utcnow())
        )


@router.get(
    "/stream",
    summary="Server-sent events: one `message` event per new inbox message",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "An event stream: `ready` once, then `message` (data: an inbox message as "
            "JSON, id: its id) per new message; comment pings every 15 s",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def stream_view(
    request: Request, ctx: CtxDep, db: DatabaseDep, principal: PrincipalDep
) -> EventSourceResponse:
    hub = ctx.hub
    wake = hub.subscribe(principal.subject)
    since: datetime = utcnow()

    async def events() -> AsyncIterator[dict[str, str]]:
        nonlocal since
        try:
            yield {"event": "ready", "data": "{}"}
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=15.0)
                wake.clear()
                async with db.read() as session:
                    rows, _ = await service.list_messages(
                        session, principal=principal, unread=False, limit=100, cursor=None, after=since
                    )
                for m in rows:
                    since = max(since, m.created_at)
                    yield {
                        "event": "message",
                        "id": str(m.id),
                        "data": service.message_out(m).model_dump_json(),
                    }
        finally:
            hub.unsubscribe(principal.subject, wake)

    return EventSourceResponse(events(), ping=15)
