"""Bulk writes for the fan-out and the delivery worker, for a whole batch at once (``INSERT …
SELECT FROM unnest(<arrays>)``, ``UPDATE … FROM unnest(…)``) on the session's own connection, so
they are part of the caller's transaction: a batch's fan-out (inbox messages, deliveries, their
``delivery.succeeded`` events and the NOTIFYs) is one statement, :data:`WRITE_FANOUT`. A statement's
parameters are one array per column: its text is the same for any batch size and asyncpg prepares it
once.

Outbox rows are written the way :func:`steward.kit.outbox.emit` writes them (same table, subject,
payload and NOTIFY), many per statement."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.envelope import EventData
from steward.kit.ids import new_id
from steward.kit.outbox import NOTIFY_CHANNEL, build_event
from steward.kit.straight import held_connection

INBOX_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "uuid"),
    ("tenant", "text"),
    ("tenant_path", "text"),
    ("recipient_subject", "text"),
    ("event_id", "text"),
    ("event_type", "text"),
    ("severity", "text"),
    ("title", "text"),
    ("body", "text"),
    ("link", "text"),
    ("project_id", "text"),
    ("created_at", "timestamptz"),
)

DELIVERY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "uuid"),
    ("tenant", "text"),
    ("tenant_path", "text"),
    ("event_id", "text"),
    ("event_type", "text"),
    ("event_time", "timestamptz"),
    ("recipient", "text"),
    ("recipient_name", "text"),
    ("recipient_subject", "text"),
    ("channel", "text"),
    ("address", "text"),
    ("severity", "text"),
    ("locale", "text"),
    ("title", "text"),
    ("body", "text"),
    ("payload", "jsonb"),
    ("status", "text"),
    ("attempts", "int"),
    ("max_attempts", "int"),
    ("due_at", "timestamptz"),
    ("last_error", "text"),
    ("deferred_reason", "text"),
    ("project_id", "text"),
    ("sent_at", "timestamptz"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
)

OUTBOX_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "uuid"),
    ("subject", "text"),
    ("type", "text"),
    ("tenant", "text"),
    ("payload", "jsonb"),
    ("headers", "jsonb"),
    ("created_at", "timestamptz"),
)


def _insert(table: str, columns: Sequence[tuple[str, str]], tail: str, *, constants: str = "") -> str:
    """``constants``: ``"attempts = 0"`` style extra columns with a fixed value."""
    names = [c for c, _ in columns]
    select = "*"
    if constants:
        name, _, value = constants.partition("=")
        names.append(name.strip())
        select = f"*, {value.strip()}"
    arrays = ", ".join(f"${i}::{t}[]" for i, (_, t) in enumerate(columns, start=1))
    return f"INSERT INTO {table} ({', '.join(names)}) SELECT {select} FROM unnest({arrays}) {tail}".strip()


INSERT_OUTBOX = _insert("steward_outbox", OUTBOX_COLUMNS, "", constants="attempts = 0")


def _write_fanout() -> str:
    """The fan-out's writes in one statement: the inbox messages; the deliveries, an inbox message's
    only if the message was created here (``inbox_id``); the ``delivery.succeeded`` events, each only
    if its delivery was created here (``delivery_id``); then the NOTIFYs: the outbox relay when an
    event was written, each recipient's inbox stream, the delivery worker when a pending delivery was
    written or ``wake`` says one was queued before. Answers the ids of the messages and deliveries
    created."""
    n = itertools.count(1)

    def arrays(columns: Sequence[tuple[str, str]]) -> str:
        return ", ".join(f"${next(n)}::{t}[]" for _, t in columns)

    inbox_names = ", ".join(c for c, _ in INBOX_COLUMNS)
    delivery_names = ", ".join(c for c, _ in DELIVERY_COLUMNS)
    outbox_names = ", ".join(c for c, _ in OUTBOX_COLUMNS)
    inbox = f"SELECT * FROM unnest({arrays(INBOX_COLUMNS)})"
    deliveries = f"unnest({arrays(DELIVERY_COLUMNS)}, ${next(n)}::uuid[]) AS d({delivery_names}, inbox_id)"
    outbox = f"unnest({arrays(OUTBOX_COLUMNS)}, ${next(n)}::uuid[]) AS o({outbox_names}, delivery_id)"
    relay, stream, worker, wake = (f"${next(n)}" for _ in range(4))
    return (
        f"WITH inbox AS (INSERT INTO inbox_messages ({inbox_names}) {inbox} "
        "ON CONFLICT ON CONSTRAINT uq_inbox_event_recipient DO NOTHING RETURNING id, recipient_subject), "
        f"deliveries AS (INSERT INTO deliveries ({delivery_names}) SELECT {delivery_names} FROM {deliveries} "
        "WHERE d.inbox_id IS NULL OR d.inbox_id IN (SELECT id FROM inbox) "
        "ON CONFLICT ON CONSTRAINT uq_deliveries_event_recipient_channel DO NOTHING RETURNING id, status), "
        f"events AS (INSERT INTO steward_outbox ({outbox_names}, attempts) SELECT {outbox_names}, 0 FROM {outbox} "
        "WHERE o.delivery_id IN (SELECT id FROM deliveries) RETURNING id) "
        "SELECT (SELECT coalesce(array_agg(id), '{}') FROM inbox), "
        "(SELECT coalesce(array_agg(id), '{}') FROM deliveries), "
        f"(SELECT count(pg_notify({relay}, '')) FROM (SELECT 1 FROM events LIMIT 1) AS e), "
        f"(SELECT count(pg_notify({stream}, s)) FROM (SELECT DISTINCT recipient_subject AS s FROM inbox) AS i), "
        f"(SELECT count(pg_notify({worker}, '')) FROM (SELECT 1 WHERE {wake}::bool "
        "OR EXISTS (SELECT 1 FROM deliveries WHERE status = 'pending')) AS w)"
    )


WRITE_FANOUT = _write_fanout()


async def connection(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under the session, inside the session's transaction.

    SQLAlchemy's asyncpg adapter sends BEGIN lazily, with the first statement it executes itself: a
    statement sent straight to the connection before that would run in autocommit — committed even
    if the transaction later rolls back (a de-duplication row without its fan-out, a claim without
    its lock). So the transaction is started here first, and checked."""
    _, adapter = await held_connection(session)
    driver: asyncpg.Connection = adapter.driver_connection
    if not driver.is_in_transaction():
        start = getattr(adapter, "_start_transaction", None)
        if start is not None and getattr(adapter, "_transaction", False) is None:
            await start()  # the adapter's own BEGIN (it then knows to COMMIT / ROLLBACK it)
        else:
            await session.execute(sa.text("SELECT 1"))  # any statement through SQLAlchemy begins it
        if not driver.is_in_transaction():
            raise RuntimeError("bulk statements must run inside the session's transaction")
    return driver


def _arrays(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> list[list[Any]]:
    out: list[list[Any]] = []
    for name, kind in columns:
        if kind == "jsonb":
            out.append([json.dumps(r.get(name) or {}, ensure_ascii=False, default=str) for r in rows])
        else:
            out.append([r.get(name) for r in rows])
    return out


async def emit_many(
    session: AsyncSession,
    events: Sequence[tuple[EventData, str, str | None]],
    *,
    source: str,
    subject_prefix: str = "steward.events",
) -> None:
    """Record events ``(data, tenant, subject)`` in the outbox, in the caller's transaction; one
    NOTIFY wakes the relay at commit (like :func:`steward.kit.outbox.emit`, for many)."""
    if not events:
        return
    rows = outbox_rows(events, source=source, subject_prefix=subject_prefix)
    conn = await connection(session)
    await conn.execute(INSERT_OUTBOX, *_arrays(rows, OUTBOX_COLUMNS))
    await session.execute(sa.text("SELECT pg_notify(:ch, '')"), {"ch": NOTIFY_CHANNEL})


def outbox_rows(
    events: Sequence[tuple[EventData, str, str | None]], *, source: str, subject_prefix: str
) -> list[dict[str, Any]]:
    """``steward_outbox`` rows of events ``(data, tenant, subject)``, as :func:`steward.kit.outbox.emit`
    writes them."""
    rows: list[dict[str, Any]] = []
    for data, tenant, subject in events:
        event = build_event(data, tenant=tenant, source=source, subject=subject)
        rows.append(
            {
                "id": uuid.UUID(event.id),
                "subject": data.subject_for(tenant, subject_prefix),
                "type": event.type,
                "tenant": tenant,
                "payload": event.model_dump(mode="json", exclude_none=True),
                "headers": {"traceparent": event.traceparent} if event.traceparent else {},
                "created_at": event.time,
            }
        )
    return rows


async def write_fanout(
    session: AsyncSession,
    *,
    inbox: Sequence[dict[str, Any]],
    deliveries: Sequence[tuple[dict[str, Any], uuid.UUID | None]],
    events: Sequence[tuple[dict[str, Any], uuid.UUID]],
    channels: tuple[str, str],
    wake: bool,
) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """A fan-out's writes in one round trip (:data:`WRITE_FANOUT`): ``inbox`` messages;
    ``deliveries`` as (row, the id of the inbox message it records, if any: written only with it);
    ``events`` as (outbox row, the id of the delivery it reports: written only with it); NOTIFYs on
    ``channels`` (the inbox stream's, per recipient; the delivery worker's) and the outbox relay's.
    ``wake``: the worker is woken even if no pending delivery is written here. The ids created."""
    if not inbox and not deliveries and not events and not wake:
        return set(), set()
    conn = await connection(session)
    stream, worker = channels
    row = await conn.fetchrow(
        WRITE_FANOUT,
        *_arrays(inbox, INBOX_COLUMNS),
        *_arrays([d for d, _ in deliveries], DELIVERY_COLUMNS),
        [i for _, i in deliveries],
        *_arrays([e for e, _ in events], OUTBOX_COLUMNS),
        [i for _, i in events],
        NOTIFY_CHANNEL,
        stream,
        worker,
        wake,
    )
    assert row is not None
    return set(row[0]), set(row[1])


def delivery_row(
    *,
    now: datetime,
    status: str,
    attempts: int = 0,
    due_at: datetime | None = None,
    sent_at: datetime | None = None,
    last_error: str | None = None,
    deferred_reason: str | None = None,
    payload: dict[str, Any] | None = None,
    **values: Any,
) -> dict[str, Any]:
    """A ``deliveries`` row with the model's defaults."""
    row: dict[str, Any] = {
        "recipient_name": "",
        "recipient_subject": None,
        "address": "",
        "severity": "info",
        "locale": "zh-CN",
        "title": "",
        "body": "",
        "project_id": None,
        "max_attempts": 6,
        **values,
    }
    row.update(
        id=row.get("id") or new_id(),
        payload=payload or {},
        status=status,
        attempts=attempts,
        due_at=due_at or now,
        sent_at=sent_at,
        last_error=last_error,
        deferred_reason=deferred_reason,
        created_at=now,
        updated_at=now,
    )
    return row


async def first_deliveries(
    session: AsyncSession, *, consumer: str, event_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """The kit's consumer de-duplication (:func:`steward.kit.dedup.first_delivery`) for many events
    in one statement: the ids seen here for the first time (their rows are now written)."""
    if not event_ids:
        return set()
    conn = await connection(session)
    rows = await conn.fetch(
        "INSERT INTO steward_inbox (consumer, event_id, received_at) "
        "SELECT $1, e, now() FROM unnest($2::uuid[]) AS e "
        "ON CONFLICT (consumer, event_id) DO NOTHING RETURNING event_id",
        consumer,
        list(dict.fromkeys(event_ids)),
    )
    return {r[0] for r in rows}
