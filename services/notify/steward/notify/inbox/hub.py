"""Live inbox streams: every replica LISTENs on ``steward_notify_inbox`` (payload = recipient
subject, sent by the fan-out's transaction on commit) and wakes that subject's SSE streams."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import structlog

from steward.kit.db import asyncpg_dsn
from steward.notify.deliveries.fanout import INBOX_CHANNEL

log = structlog.get_logger(__name__)


class InboxHub:
    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self._subs: dict[str, set[asyncio.Event]] = {}
        self._conn: asyncpg.Connection | None = None

    async def start(self) -> None:
        try:
            self._conn = await asyncpg.connect(asyncpg_dsn(self.url))
            await self._conn.add_listener(INBOX_CHANNEL, self._on_notify)
        except Exception as exc:  # streams then fall back to their periodic check
            log.warning("notify.inbox_listen_unavailable", error=str(exc))
            self._conn = None

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self.publish(payload)

    def publish(self, subject: str) -> None:
        for event in self._subs.get(subject, ()):
            event.set()

    def subscribe(self, subject: str) -> asyncio.Event:
        event = asyncio.Event()
        self._subs.setdefault(subject, set()).add(event)
        return event

    def unsubscribe(self, subject: str, event: asyncio.Event) -> None:
        subs = self._subs.get(subject)
        if subs is not None:
            subs.discard(event)
            if not subs:
                del self._subs[subject]

    async def stop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None
