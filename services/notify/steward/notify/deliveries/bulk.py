"""Bulk writes for the fan-out and the delivery worker: one statement per table for a whole batch
(``INSERT … SELECT FROM unnest(<arrays>)``, ``UPDATE … FROM unnest(…)``) on the session's own
connection, so they are part of the caller's transaction. A statement's parameters are one array per
column: the statement text is the same for any batch size and asyncpg prepares it once.

Outbox rows are written the way :func:`steward.kit.outbox.emit` writes them (same table, subject,
payload and NOTIFY), many per statement."""

from __future__ import annotations

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


INSERT_INBOX = _insert(
    "inbox_messages",
    INBOX_COLUMNS,
    "ON CONFLICT ON CONSTRAINT uq_inbox_event_recipient DO NOTHING RETURNING id",
)
INSERT_DELIVERIES = _insert(
    "deliveries",
    DELIVERY_COLUMNS,
    "ON CONFLICT ON CONSTRAINT uq_deliveries_event_recipient_channel DO NOTHING RETURNING id",
)
INSERT_OUTBOX = _insert("steward_outbox", OUTBOX_COLUMNS, "", constants="attempts = 0")


async def connection(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under the session, inside the session's transaction.

    SQLAlchemy's asyncpg adapter sends BEGIN lazily, with the first statement it executes itself: a
    statement sent straight to the connection before that would run in autocommit — committed even
    if the transaction later rolls back (a de-duplication row without its fan-out, a claim without
    its lock). So the transaction is started here first, and checked."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection  # type: ignore[assignment]
    if not driver.is_in_transaction():
        adapter = raw.dbapi_connection
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


async def insert_inbox(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[uuid.UUID]:
    """Insert inbox messages (a message already there for (event, subject) is left alone); the ids
    of the rows this call created."""
    if not rows:
        return set()
    conn = await connection(session)
    return {r[0] for r in await conn.fetch(INSERT_INBOX, *_arrays(rows, INBOX_COLUMNS))}


async def insert_deliveries(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[uuid.UUID]:
    """Insert deliveries unless (event_id, recipient, channel) exists; the ids created."""
    if not rows:
        return set()
    conn = await connection(session)
    return {r[0] for r in await conn.fetch(INSERT_DELIVERIES, *_arrays(rows, DELIVERY_COLUMNS))}


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
    conn = await connection(session)
    await conn.execute(INSERT_OUTBOX, *_arrays(rows, OUTBOX_COLUMNS))
    await session.execute(sa.text("SELECT pg_notify(:ch, '')"), {"ch": NOTIFY_CHANNEL})


async def notify_each(session: AsyncSession, channel: str, payloads: Sequence[str]) -> None:
    """``pg_notify(channel, p)`` for every distinct payload, in one statement."""
    if not payloads:
        return
    conn = await connection(session)
    await conn.execute("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", channel, sorted(set(payloads)))


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
