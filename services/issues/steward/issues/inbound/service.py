"""Receiving inbound messages (docs/inbound.md): each message once per (system, message id), in its
own transaction, applied as a user's change or refused — and logged either way.

A message is claimed by inserting its applied log row first (``ON CONFLICT DO NOTHING`` on the
unique (system, message id) of applied rows), so a second delivery — even a concurrent one, which
waits for the first to commit — finds it and changes nothing. When applying fails, the transaction
rolls back (nothing of the message is written) and the refusal is logged in a transaction of its own;
a refused message may be sent again under the same id once the cause is fixed."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.issues.inbound import apply as procedures
from steward.issues.inbound.models import InboundMessage
from steward.issues.inbound.schemas import MESSAGE, BulkOut, InboundError, InboundResult
from steward.kit.db import Database, is_retryable_conflict
from steward.kit.errors import Conflict, DomainError, ValidationFailed, pydantic_details
from steward.kit.inbound import Sender


class Refused(Exception):
    """A refused message: its result (logged) and the domain error to answer with."""

    def __init__(self, result: InboundResult, error: DomainError) -> None:
        super().__init__(error.message)
        self.result = result
        self.error = error


async def _claim(session: AsyncSession, *, sender: Sender, msg: Any, now: datetime) -> InboundMessage | None:
    """Insert the applied row; ``None`` when it is new, else the row of the earlier delivery."""
    body = msg.model_dump(mode="json")
    new = (
        await session.execute(
            insert(InboundMessage)
            .values(
                id=uuid.uuid4(),
                system=sender.name,
                system_tenant=sender.system.tenant,
                message_id=msg.message_id,
                kind=msg.kind,
                project_code=getattr(msg, "project_code", None),
                received_at=now,
                result="applied",
                status=200,
                target={},
                body=body,
            )
            .on_conflict_do_nothing(
                index_elements=["system", "message_id"], index_where=sa.text("result = 'applied'")
            )
            .returning(col(InboundMessage.id))
        )
    ).scalar()
    if new is not None:
        return None
    prior = (
        await session.exec(
            select(InboundMessage).where(
                InboundMessage.system == sender.name,
                InboundMessage.message_id == msg.message_id,
                InboundMessage.result == "applied",
            )
        )
    ).one()
    if prior.body != body:
        raise Conflict(
            f"message id {msg.message_id} was applied already with another body", code="message_id_reused"
        )
    return prior


async def _log_refusal(
    db: Database, *, sender: Sender, raw: dict[str, Any], error: DomainError, now: datetime
) -> InboundResult:
    message_id = str(raw.get("message_id") or "")[:128]
    kind = str(raw.get("kind") or "")[:64]
    code = raw.get("project_code")
    async with db.transaction() as session:
        session.add(
            InboundMessage(
                system=sender.name,
                system_tenant=sender.system.tenant,
                message_id=message_id,
                kind=kind,
                project_code=str(code)[:40] if isinstance(code, str) else None,
                received_at=now,
                result="refused",
                status=error.status_code,
                error_code=error.code,
                error={"message": error.message, "details": error.details},
                body=raw,
            )
        )
    return InboundResult(
        message_id=message_id,
        kind=kind,
        result="refused",
        status=error.status_code,
        received_at=now,
        error=InboundError(code=error.code, message=error.message, details=error.details),
    )


def parse(raw: dict[str, Any]) -> Any:
    try:
        return MESSAGE.validate_python(raw)
    except ValidationError as exc:
        raise ValidationFailed(
            "the message is not valid", details=pydantic_details(list(exc.errors()))
        ) from exc


async def receive(
    db: Database, *, sender: Sender, raw: dict[str, Any], clock: Callable[[], datetime]
) -> InboundResult:
    """One message in its own transaction; raises :class:`Refused` (logged) when it does not fit."""
    now = clock()
    try:
        msg = parse(raw)
        async with db.transaction() as session:
            prior = await _claim(session, sender=sender, msg=msg, now=now)
            if prior is not None:
                return InboundResult(
                    message_id=prior.message_id,
                    kind=prior.kind,
                    result="duplicate",
                    status=200,
                    received_at=prior.received_at,
                    target=prior.target,
                )
            target = await procedures.apply(session, principal=sender.principal, msg=msg, now=now)
            await session.execute(
                sa.update(InboundMessage)
                .where(
                    col(InboundMessage.system) == sender.name,
                    col(InboundMessage.message_id) == msg.message_id,
                    col(InboundMessage.result) == "applied",
                )
                .values(target=target)
            )
            return InboundResult(
                message_id=msg.message_id,
                kind=msg.kind,
                result="applied",
                status=200,
                received_at=now,
                target=target,
            )
    except DomainError as exc:
        error: DomainError = exc
    except DBAPIError as exc:
        if not is_retryable_conflict(exc):
            raise
        error = Conflict("the data changed concurrently; send the message again", code="concurrent_update")
    result = await _log_refusal(db, sender=sender, raw=raw, error=error, now=now)
    raise Refused(result, error)


async def receive_bulk(
    db: Database, *, sender: Sender, messages: list[dict[str, Any]], clock: Callable[[], datetime]
) -> BulkOut:
    """Each message on its own: one refused does not undo the others."""
    results = []
    for raw in messages:
        try:
            results.append(await receive(db, sender=sender, raw=raw, clock=clock))
        except Refused as refused:
            results.append(refused.result)
    return BulkOut(
        applied=sum(r.result == "applied" for r in results),
        duplicates=sum(r.result == "duplicate" for r in results),
        refused=sum(r.result == "refused" for r in results),
        results=results,
    )


async def log(session: AsyncSession, *, systems: list[str], limit: int) -> list[InboundMessage]:
    """The newest messages of these systems, refused ones included."""
    stmt = (
        select(InboundMessage)
        .where(col(InboundMessage.system).in_(systems))
        .order_by(col(InboundMessage.received_at).desc())
        .limit(limit)
    )
    return list((await session.exec(stmt)).all())
