"""Live notifications: the signed-in user's inbox stream from notify (``/v1/inbox/stream``, called
with the user's own token) relayed to the browser as server-sent events that htmx's SSE extension
swaps in: ``notification`` (a ``<li>`` for the home page) and ``inbox-row`` (a ``<tr>`` for the
inbox). A comment line is sent every ``HEARTBEAT_SECONDS`` so proxies keep the connection open;
the upstream call is closed as soon as the browser goes away (sse-starlette watches for the
disconnect) and after ``STREAM_SECONDS`` (the browser reconnects by itself, and the reconnect
checks the session again). No session, or a token notify refuses, is a 204: EventSource stops."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response
from httpx_sse import EventSource, aconnect_sse
from sse_starlette.sse import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask

from steward.console.session import User
from steward.console.web import services_of, sessions_of, templates

router = APIRouter()
log = structlog.get_logger(__name__)

HEARTBEAT_SECONDS = 15
STREAM_SECONDS = 300.0
RETRY_MS = 3000
CONNECT_SECONDS = 10.0


def render_events(user: User, message: dict[str, Any]) -> list[ServerSentEvent]:
    """One notify message as the fragments the pages swap in (autoescaped like every page)."""
    context = {"n": message, "user": user}
    item = templates.get_template("_inbox_item.html").render(context)
    row = templates.get_template("_inbox_row.html").render(context)
    ident = str(message.get("id") or "")
    return [
        ServerSentEvent(data=_one_line(item), event="notification", id=ident),
        ServerSentEvent(data=_one_line(row), event="inbox-row", id=ident),
    ]


def _one_line(html: str) -> str:
    return " ".join(line.strip() for line in html.splitlines() if line.strip())


async def _pump(source: EventSource, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
    try:
        async for event in source.aiter_sse():
            if event.event != "message":
                continue  # notify's "ready"
            try:
                await queue.put(json.loads(event.data))
            except ValueError:
                log.warning("console.live_bad_event", data=event.data[:200])
    except httpx.HTTPError as exc:
        log.info("console.live_upstream_closed", error=str(exc))
    finally:
        await queue.put(None)


async def relay(
    user: User, source: EventSource, stack: AsyncExitStack, *, seconds: float = STREAM_SECONDS
) -> AsyncIterator[ServerSentEvent]:
    """Notify's events as page fragments until the upstream ends, ``seconds`` pass, or the browser
    leaves (the task is cancelled); the upstream response is closed in every case."""
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    pump = asyncio.create_task(_pump(source, queue))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    try:
        yield ServerSentEvent(comment="live", retry=RETRY_MS)
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                message = await asyncio.wait_for(queue.get(), timeout=remaining)
            except TimeoutError:
                return
            if message is None:
                return
            for event in render_events(user, message):
                yield event
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        await stack.aclose()


@router.get("/live/inbox", include_in_schema=False)
async def live_inbox(request: Request) -> Response:
    # the session is read, not refreshed: an open page must not keep an idle session alive
    user = sessions_of(request).load(request)
    services = services_of(request)
    if user is None or not services.available("notify"):
        return Response(status_code=204)
    headers = {"Authorization": f"Bearer {user.token}", "Accept": "text/event-stream"}
    stack = AsyncExitStack()
    try:
        source = await stack.enter_async_context(
            aconnect_sse(
                services.http,
                "GET",
                services.urls["notify"] + "/v1/inbox/stream",
                headers=headers,
                timeout=httpx.Timeout(CONNECT_SECONDS, read=None),
            )
        )
    except httpx.HTTPError as exc:
        await stack.aclose()
        log.info("console.live_unavailable", error=str(exc))
        return Response(status_code=503, headers={"Retry-After": "30"})
    status = source.response.status_code
    if status != 200:
        await stack.aclose()
        # a refused token ends the stream for good (the next page load signs the user out)
        return Response(status_code=204 if status in (401, 403) else 503)
    return EventSourceResponse(
        relay(user, source, stack),
        ping=HEARTBEAT_SECONDS,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        background=BackgroundTask(stack.aclose),  # closes the upstream even if the body never ran
    )
