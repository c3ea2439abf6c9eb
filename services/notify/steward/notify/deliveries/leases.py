"""Leases of the deliveries a worker holds: one heartbeat statement keeps them all alive.

A claimed delivery is ``sending`` with ``due_at`` as its lease; a worker that dies lets it expire
and the row is claimed again. A live worker must never lose a lease it still acts on — while a
delivery waits for a free sender, for the one SMTP connection, or for its send to be recorded — or
another claim sends the message a second time. So every ``delivery_lease_seconds / 4`` the worker
extends the leases of everything it holds in one ``UPDATE``, fenced on each attempt id; a sender
hands a message over only while its :class:`~steward.notify.channels.base.Lease` outlasts the send
(the database unreachable: no renewal, the lease runs down, nothing more is sent)."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta

import structlog
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.db import Database
from steward.kit.logs import THROTTLED
from steward.notify.channels.base import Lease
from steward.notify.deliveries import bulk

log = structlog.get_logger(__name__)

_RENEW = (
    "UPDATE deliveries d SET due_at = $3, updated_at = $4"
    " FROM unnest($1::uuid[], $2::uuid[]) AS c(id, attempt)"
    " WHERE d.id = c.id AND d.attempt_id = c.attempt AND d.status = 'sending' RETURNING d.id"
)


async def renew(
    session: AsyncSession, held: list[tuple[uuid.UUID, uuid.UUID]], *, now: datetime, seconds: float
) -> set[uuid.UUID]:
    """Extend the leases of ``held`` (delivery id, attempt id) pairs; returns the ids still held."""
    conn = await bulk.connection(session)
    rows = await conn.fetch(
        _RENEW, [h[0] for h in held], [h[1] for h in held], now + timedelta(seconds=seconds), now
    )
    return {r["id"] for r in rows}


class Held:
    """The deliveries this worker has claimed and not yet finished, each with its lease."""

    def __init__(self, db: Database, seconds: float) -> None:
        self.db = db
        self.seconds = seconds
        self._leases: dict[uuid.UUID, tuple[uuid.UUID, Lease]] = {}

    def __len__(self) -> int:
        return len(self._leases)

    def take(self, delivery_id: uuid.UUID, attempt_id: uuid.UUID, since: float) -> Lease:
        """A delivery claimed at ``since`` (monotonic, taken before the claim's statement ran)."""
        lease = Lease(since + self.seconds)
        self._leases[delivery_id] = (attempt_id, lease)
        return lease

    def release(self, delivery_id: uuid.UUID) -> None:
        self._leases.pop(delivery_id, None)

    def extended(self, delivery_id: uuid.UUID, since: float) -> None:
        """The lease was renewed by a statement that began at ``since``."""
        held = self._leases.get(delivery_id)
        if held is not None:
            held[1].until = max(held[1].until, since + self.seconds)

    async def heartbeat(self, now: datetime) -> int:
        """Renew every held lease in one statement; a lease another attempt took (it expired while
        the database was unreachable) is marked run out, so nothing more is sent under it."""
        if not self._leases:
            return 0
        held = [(d, a) for d, (a, _) in self._leases.items()]
        since = time.monotonic()
        try:
            async with self.db.transaction() as session:
                kept = await renew(session, held, now=now, seconds=self.seconds)
        except Exception as exc:  # the database is down: the leases run down, sends stop in time
            THROTTLED.warning("notify.lease_renewal_failed", key=type(exc).__name__, error=str(exc)[:300])
            return 0
        for delivery_id, attempt_id in held:
            current = self._leases.get(delivery_id)
            if current is None or current[0] != attempt_id:
                continue
            if delivery_id in kept:
                current[1].until = max(current[1].until, since + self.seconds)
            else:
                current[1].until = 0.0
                log.info("notify.lease_lost", delivery_id=str(delivery_id))
        return len(kept)
