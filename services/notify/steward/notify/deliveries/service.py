"""The delivery state machine: claim (committed before any channel call), finish with a fence on
the attempt id, retry with backoff, dead-letter, manual retry/replay, listings.

Crash safety — the sequence for external channels is three steps:

1. **claim** (own transaction, committed): ``pending → sending``, a fresh ``attempt_id``,
   ``attempts + 1``, ``due_at = now + lease``;
2. **send** with the delivery id as idempotency key (email Message-ID, ``Idempotency-Key`` header,
   SMS ``request_id``);
3. **finish** (own transaction): ``UPDATE … WHERE id = :id AND attempt_id = :attempt`` → ``sent``
   (or ``pending`` with backoff / ``dead_lettered``) plus the ``delivery.*`` event in the outbox.

A worker killed before step 2 completes leaves ``sending`` with an expired lease: the row is claimed
again and sent once. Killed between the channel's acceptance and step 3 (a window of one commit),
the message is sent again with the same idempotency key — at-least-once, never silently lost."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.notify import DeliveryDeadLettered, DeliveryFailed, DeliverySucceeded
from steward.kit import sealing
from steward.kit.errors import InvalidTransition, NotFound
from steward.kit.ids import new_id
from steward.kit.outbox import emit
from steward.notify import metrics
from steward.notify.channels.base import Outgoing
from steward.notify.channels.models import ChannelEndpoint
from steward.notify.deliveries import bulk
from steward.notify.deliveries.models import Delivery, DeliveryAttempt, Status
from steward.notify.deliveries.timing import RateLimiter, backoff
from steward.notify.settings import SOURCE, NotifySettings
from steward.notify.subscriptions.models import AgencySubscription


@dataclass(frozen=True)
class Claimed:
    outgoing: Outgoing
    event_time: datetime
    attempts: int
    claimed_at: float = field(default_factory=time.monotonic)  # when the lease began (monotonic)


async def _secret_and_state(
    session: AsyncSession, subscription_id: uuid.UUID | None, endpoint_id: uuid.UUID | None
) -> tuple[str | None, str | None]:
    """(signing secret, reason to skip) of the subscription or endpoint behind a delivery."""
    if subscription_id is not None:
        sub = await session.get(AgencySubscription, subscription_id)
        if sub is None or not sub.enabled:
            return None, "subscription removed or disabled"
        return sealing.box().open(sub.secret), None  # sealed at rest
    if endpoint_id is not None:
        ep = await session.get(ChannelEndpoint, endpoint_id)
        if ep is None or not ep.enabled:
            return None, "endpoint removed or disabled"
        return sealing.box().open_optional(ep.secret), None
    return None, None


_DUE = (
    "SELECT id, status, attempts, max_attempts, channel, subscription_id, endpoint_id FROM deliveries"
    " WHERE status IN ('pending', 'sending') AND due_at <= $1 ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED"
)
_CLAIM = (
    "UPDATE deliveries d SET status = 'sending', attempt_id = c.attempt, attempts = d.attempts + 1,"
    " claimed_at = $3, due_at = $4, updated_at = $3"
    " FROM unnest($1::uuid[], $2::uuid[]) AS c(id, attempt) WHERE d.id = c.id"
    " RETURNING d.id, d.attempt_id, d.event_id, d.event_type, d.tenant, d.channel, d.address,"
    " d.recipient_name, d.title, d.body, d.payload, d.event_time, d.attempts"
)
_ATTEMPTS = (
    "INSERT INTO delivery_attempts (id, delivery_id, attempt_id, number, started_at, outcome)"
    " SELECT * , 'started' FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::timestamptz[])"
)
_DEFER = (
    "UPDATE deliveries d SET due_at = c.due, deferred_reason = 'rate_limit'"
    " FROM unnest($1::uuid[], $2::timestamptz[]) AS c(id, due) WHERE d.id = c.id"
)
_SKIP = (
    "UPDATE deliveries d SET status = 'skipped', last_error = c.reason, updated_at = $3"
    " FROM unnest($1::uuid[], $2::text[]) AS c(id, reason) WHERE d.id = c.id"
)


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value)
    return dict(value or {})


async def claim(
    session: AsyncSession, *, now: datetime, limit: int, settings: NotifySettings, limiter: RateLimiter
) -> list[Claimed]:
    """Claim due deliveries (``FOR UPDATE SKIP LOCKED``; expired ``sending`` leases included): one
    statement reads and locks the batch, one claims it, one records the attempts."""
    conn = await bulk.connection(session)
    rows = await conn.fetch(_DUE, now, limit)
    take: list[tuple[uuid.UUID, uuid.UUID]] = []
    secrets: dict[uuid.UUID, str | None] = {}
    deferred: list[tuple[uuid.UUID, datetime]] = []
    skipped: list[tuple[uuid.UUID, str]] = []
    for r in rows:
        if r["status"] == Status.SENDING.value and r["attempts"] >= r["max_attempts"]:
            row = await session.get(Delivery, r["id"])
            if row is not None:
                await _dead_letter(session, row, "worker lost while sending (lease expired)", now)
            continue
        wait = limiter.try_acquire(r["channel"])
        if wait > 0:
            deferred.append((r["id"], now + timedelta(seconds=wait)))
            continue
        secret, skip = await _secret_and_state(session, r["subscription_id"], r["endpoint_id"])
        if skip:
            skipped.append((r["id"], skip))
            continue
        secrets[r["id"]] = secret
        take.append((r["id"], uuid.uuid4()))  # the attempt's fence token: random is all it needs
    await session.flush()  # dead letters written through the ORM go first
    if deferred:
        await conn.execute(_DEFER, [d[0] for d in deferred], [d[1] for d in deferred])
    if skipped:
        await conn.execute(_SKIP, [d[0] for d in skipped], [d[1] for d in skipped], now)
    if not take:
        return []
    lease = now + timedelta(seconds=settings.delivery_lease_seconds)
    claimed_rows = await conn.fetch(_CLAIM, [t[0] for t in take], [t[1] for t in take], now, lease)
    await conn.execute(
        _ATTEMPTS,
        [new_id() for _ in claimed_rows],
        [r["id"] for r in claimed_rows],
        [r["attempt_id"] for r in claimed_rows],
        [r["attempts"] for r in claimed_rows],
        [now] * len(claimed_rows),
    )
    order = {t[0]: i for i, t in enumerate(take)}
    claimed_rows = sorted(claimed_rows, key=lambda r: order[r["id"]])  # the due order
    return [
        Claimed(
            outgoing=Outgoing(
                delivery_id=_uuid(r["id"]),
                attempt_id=_uuid(r["attempt_id"]),
                event_id=r["event_id"],
                event_type=r["event_type"],
                tenant=r["tenant"],
                channel=r["channel"],
                address=r["address"],
                recipient_name=r["recipient_name"],
                title=r["title"],
                body=r["body"],
                payload=_json(r["payload"]),
                secret=secrets.get(r["id"]),
            ),
            event_time=r["event_time"],
            attempts=r["attempts"],
        )
        for r in claimed_rows
    ]


def _uuid(value: Any) -> uuid.UUID:
    return value if type(value) is uuid.UUID else uuid.UUID(str(value))


_SENT = (
    "UPDATE deliveries d SET status = 'sent', sent_at = $3, last_error = NULL, updated_at = $3"
    " FROM unnest($1::uuid[], $2::uuid[]) AS c(id, attempt)"
    " WHERE d.id = c.id AND d.attempt_id = c.attempt AND d.status = 'sending'"
    " RETURNING d.id, d.tenant, d.event_id, d.event_type, d.channel, d.recipient, d.attempts, d.event_time"
)
_FINISHED_OK = (
    "UPDATE delivery_attempts SET finished_at = $2, outcome = 'ok', error = NULL"
    " WHERE attempt_id = ANY($1::uuid[])"
)


async def mark_sent_many(
    session: AsyncSession, *, outs: list[Outgoing], now: datetime, settings: NotifySettings | None = None
) -> set[uuid.UUID]:
    """Record many accepted sends in three statements: each delivery → ``sent`` fenced on its attempt
    id (a lease that expired meanwhile belongs to another attempt, whose result counts), each attempt
    finished, and one ``delivery.succeeded`` per delivery. Returns the deliveries marked here."""
    if not outs:
        return set()
    conn = await bulk.connection(session)
    rows = await conn.fetch(_SENT, [o.delivery_id for o in outs], [o.attempt_id for o in outs], now)
    await conn.execute(_FINISHED_OK, [o.attempt_id for o in outs], now)
    events = []
    for r in rows:
        latency = max(0.0, (now - r["event_time"]).total_seconds())
        events.append(
            (
                DeliverySucceeded(
                    delivery_id=str(r["id"]),
                    event_id=r["event_id"],
                    event_type=r["event_type"],
                    channel=r["channel"],
                    recipient=r["recipient"],
                    attempts=r["attempts"],
                    sent_at=now,
                    latency_seconds=latency,
                ),
                r["tenant"],
                str(r["id"]),
            )
        )
        metrics.DELIVERIES.labels(r["channel"], "sent").inc()
        metrics.LATENCY.labels(r["channel"]).observe(latency)
    prefix = settings.events_subject_prefix if settings is not None else "steward.events"
    await bulk.emit_many(session, events, source=SOURCE, subject_prefix=prefix)
    return {_uuid(r["id"]) for r in rows}


async def _fenced(session: AsyncSession, out: Outgoing) -> Delivery | None:
    row = (
        await session.exec(
            select(Delivery)
            .where(
                col(Delivery.id) == out.delivery_id,
                col(Delivery.attempt_id) == out.attempt_id,
                col(Delivery.status) == Status.SENDING.value,
            )
            .with_for_update()
        )
    ).first()
    return row


async def _finish_attempt(session: AsyncSession, out: Outgoing, now: datetime, error: str | None) -> None:
    await session.execute(
        sa.update(DeliveryAttempt)
        .where(col(DeliveryAttempt.attempt_id) == out.attempt_id)
        .values(finished_at=now, outcome="error" if error else "ok", error=error)
    )


async def renew_lease(
    session: AsyncSession, *, out: Outgoing, now: datetime, settings: NotifySettings
) -> bool:
    """Before a send that waited in the worker's queue: extend this attempt's lease, or learn that it
    expired and another attempt owns the row — then this one must not send (it would send twice)."""
    result = await session.execute(
        sa.update(Delivery)
        .where(
            col(Delivery.id) == out.delivery_id,
            col(Delivery.attempt_id) == out.attempt_id,
            col(Delivery.status) == Status.SENDING.value,
        )
        .values(due_at=now + timedelta(seconds=settings.delivery_lease_seconds), updated_at=now)
    )
    if result.rowcount:  # type: ignore[attr-defined]
        return True
    await _finish_attempt(session, out, now, "lease expired before sending; another attempt sends it")
    return False


async def mark_sent(session: AsyncSession, *, out: Outgoing, now: datetime) -> bool:
    """One accepted send (see :func:`mark_sent_many`); False when fenced out."""
    return bool(await mark_sent_many(session, outs=[out], now=now))


async def _dead_letter(session: AsyncSession, row: Delivery, error: str, now: datetime) -> None:
    row.status = Status.DEAD_LETTERED.value
    row.dead_lettered_at = now
    row.last_error = error[:1000]
    row.updated_at = now
    await emit(
        session,
        DeliveryDeadLettered(
            delivery_id=str(row.id),
            event_id=row.event_id,
            event_type=row.event_type,
            channel=row.channel,
            recipient=row.recipient,
            attempts=row.attempts,
            error=error[:500],
        ),
        tenant=row.tenant,
        source=SOURCE,
        subject=str(row.id),
    )
    metrics.DELIVERIES.labels(row.channel, "dead_lettered").inc()


async def mark_failed(
    session: AsyncSession,
    *,
    out: Outgoing,
    error: str,
    permanent: bool,
    now: datetime,
    settings: NotifySettings,
) -> str | None:
    """Schedule the retry or dead-letter; returns the new status (None when fenced out)."""
    row = await _fenced(session, out)
    await _finish_attempt(session, out, now, error[:1000])
    if row is None:
        return None
    if permanent or row.attempts >= row.max_attempts:
        await _dead_letter(session, row, error, now)
        return row.status
    delay = backoff(
        row.attempts, base=settings.delivery_backoff_base_seconds, cap=settings.delivery_backoff_max_seconds
    )
    row.status = Status.PENDING.value
    row.due_at = now + timedelta(seconds=delay)
    row.last_error = error[:1000]
    row.updated_at = now
    await emit(
        session,
        DeliveryFailed(
            delivery_id=str(row.id),
            event_id=row.event_id,
            event_type=row.event_type,
            channel=row.channel,
            recipient=row.recipient,
            attempts=row.attempts,
            error=error[:500],
            next_attempt_at=row.due_at,
        ),
        tenant=row.tenant,
        source=SOURCE,
        subject=str(row.id),
    )
    metrics.DELIVERIES.labels(row.channel, "retry").inc()
    return row.status


async def retry(
    session: AsyncSession, *, delivery: Delivery, now: datetime, settings: NotifySettings
) -> Delivery:
    """Send a dead-lettered (or waiting) delivery again now, with a fresh attempt budget."""
    if delivery.status not in (Status.DEAD_LETTERED.value, Status.PENDING.value):
        raise InvalidTransition(f"a {delivery.status} delivery cannot be retried", code="not_retryable")
    delivery.status = Status.PENDING.value
    delivery.due_at = now
    delivery.attempts = 0
    delivery.max_attempts = settings.delivery_max_attempts
    delivery.dead_lettered_at = None
    delivery.deferred_reason = "manual_retry"
    delivery.updated_at = now
    session.add(delivery)
    await session.execute(sa.text("SELECT pg_notify('steward_notify_delivery', '')"))
    return delivery


async def get(session: AsyncSession, delivery_id: uuid.UUID) -> Delivery:
    row = await session.get(Delivery, delivery_id)
    if row is None:
        raise NotFound("delivery not found")
    return row


async def attempts_of(session: AsyncSession, delivery_id: uuid.UUID) -> list[DeliveryAttempt]:
    return list(
        (
            await session.exec(
                select(DeliveryAttempt)
                .where(col(DeliveryAttempt.delivery_id) == delivery_id)
                .order_by(col(DeliveryAttempt.number))
            )
        ).all()
    )


async def backlog(session: AsyncSession) -> dict[str, dict[str, int]]:
    """Per channel: pending, retrying (attempted before), dead-lettered — exported as gauges."""
    rows = (
        await session.execute(
            sa.text(
                "SELECT channel, "
                "count(*) FILTER (WHERE status IN ('pending','sending')), "
                "count(*) FILTER (WHERE status IN ('pending','sending') AND attempts > 0), "
                "count(*) FILTER (WHERE status = 'dead_lettered') "
                "FROM deliveries WHERE status IN ('pending','sending','dead_lettered') GROUP BY channel"
            )
        )
    ).all()
    out: dict[str, dict[str, int]] = {}
    for channel, pending, retrying, dead in rows:
        out[str(channel)] = {"pending": int(pending), "retrying": int(retrying), "dead": int(dead)}
    return out


def as_dict(row: Delivery) -> dict[str, Any]:
    return row.model_dump()
