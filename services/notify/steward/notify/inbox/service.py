"""The principal's own inbox (messages addressed to their login subject)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.auth import Principal
from steward.kit.errors import NotFound
from steward.notify.cursors import decode_keyset, encode_keyset
from steward.notify.inbox.models import InboxMessage
from steward.notify.inbox.schemas import MessageOut


def message_out(m: InboxMessage) -> MessageOut:
    return MessageOut(**m.model_dump(exclude={"recipient_subject"}))


async def list_messages(
    session: AsyncSession,
    *,
    principal: Principal,
    unread: bool,
    limit: int,
    cursor: str | None,
    after: datetime | None = None,
) -> tuple[list[InboxMessage], str | None]:
    q = select(InboxMessage).where(col(InboxMessage.recipient_subject) == principal.subject)
    if unread:
        q = q.where(col(InboxMessage.read_at).is_(None))
    if after is not None:
        q = q.where(col(InboxMessage.created_at) > after)
        rows = list((await session.exec(q.order_by(col(InboxMessage.created_at)).limit(limit))).all())
        return rows, None
    if cursor:
        at, mid = decode_keyset(cursor)
        q = q.where(
            (col(InboxMessage.created_at) < at)
            | ((col(InboxMessage.created_at) == at) & (col(InboxMessage.id) < mid))
        )
    rows = list(
        (
            await session.exec(
                q.order_by(col(InboxMessage.created_at).desc(), col(InboxMessage.id).desc()).limit(limit + 1)
            )
        ).all()
    )
    nxt = None
    if len(rows) > limit:
        nxt = encode_keyset(rows[limit - 1].created_at, rows[limit - 1].id)
    return rows[:limit], nxt


async def unread_count(session: AsyncSession, *, principal: Principal) -> int:
    return int(
        (
            await session.execute(
                sa.select(sa.func.count())
                .select_from(InboxMessage)
                .where(
                    col(InboxMessage.recipient_subject) == principal.subject,
                    col(InboxMessage.read_at).is_(None),
                )
            )
        ).scalar_one()
    )


async def mark_read(
    session: AsyncSession, *, principal: Principal, ids: list[uuid.UUID] | None, now: datetime
) -> int:
    stmt = sa.update(InboxMessage).where(
        col(InboxMessage.recipient_subject) == principal.subject, col(InboxMessage.read_at).is_(None)
    )
    if ids is not None:
        stmt = stmt.where(col(InboxMessage.id).in_(ids))
    result = await session.execute(stmt.values(read_at=now))
    return int(getattr(result, "rowcount", 0) or 0)


async def get_own(session: AsyncSession, *, principal: Principal, message_id: uuid.UUID) -> InboxMessage:
    row = await session.get(InboxMessage, message_id)
    if row is None or row.recipient_subject != principal.subject:
        raise NotFound("message not found")
    return row
