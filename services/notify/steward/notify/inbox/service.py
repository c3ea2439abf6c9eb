"""The principal's own inbox (messages addressed to their login subject)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.auth import Principal
from steward.kit.errors import NotFound
from steward.kit.paging import keyset_page
from steward.kit.tenancy import ALL_TENANTS, ancestry_of, in_subtree
from steward.notify.inbox.models import InboxMessage
from steward.notify.inbox.schemas import MessageOut


def mine(principal: Principal) -> tuple[sa.ColumnElement[bool], ...]:
    """A principal's messages: addressed to its subject AND about its tenant's subtree. The subject
    alone is not enough: a token of another tenant could carry the same ``sub``."""
    addressed = col(InboxMessage.recipient_subject) == principal.subject
    if principal.tenant == ALL_TENANTS:
        return (addressed,)
    path = sa.func.coalesce(sa.func.nullif(col(InboxMessage.tenant_path), ""), col(InboxMessage.tenant))
    return (addressed, sa.func.concat("/", path, "/").contains(f"/{principal.tenant}/", autoescape=True))


def in_scope(principal: Principal, m: InboxMessage) -> bool:
    return in_subtree(principal.tenant, ancestry_of(m.tenant_path or m.tenant))


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
    q = select(InboxMessage).where(*mine(principal))
    if unread:
        q = q.where(col(InboxMessage.read_at).is_(None))
    order = (InboxMessage.created_at, InboxMessage.id)
    if after is not None:  # the live stream: what arrived since, oldest first
        q = q.where(col(InboxMessage.created_at) > after)
        rows, _ = await keyset_page(session, q, order=order, cursor=None, limit=limit, descending=False)
        return rows, None
    return await keyset_page(session, q, order=order, cursor=cursor, limit=limit)


async def unread_count(session: AsyncSession, *, principal: Principal) -> int:
    return int(
        (
            await session.execute(
                sa.select(sa.func.count())
                .select_from(InboxMessage)
                .where(
                    *mine(principal),
                    col(InboxMessage.read_at).is_(None),
                )
            )
        ).scalar_one()
    )


async def mark_read(
    session: AsyncSession, *, principal: Principal, ids: list[uuid.UUID] | None, now: datetime
) -> int:
    stmt = sa.update(InboxMessage).where(*mine(principal), col(InboxMessage.read_at).is_(None))
    if ids is not None:
        stmt = stmt.where(col(InboxMessage.id).in_(ids))
    result = await session.execute(stmt.values(read_at=now))
    return int(getattr(result, "rowcount", 0) or 0)


async def get_own(session: AsyncSession, *, principal: Principal, message_id: uuid.UUID) -> InboxMessage:
    row = await session.get(InboxMessage, message_id)
    if row is None or row.recipient_subject != principal.subject or not in_scope(principal, row):
        raise NotFound("message not found")
    return row
