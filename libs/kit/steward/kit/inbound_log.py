"""Receiving inbound messages (docs/inbound.md), the same in every service that takes them: each
message once per (system, message id), in its own transaction, applied as a user's change or
refused — and logged either way.

A message is claimed by inserting its applied log row first (``ON CONFLICT DO NOTHING`` on the
unique (system, message id) of applied rows), so a second delivery — even a concurrent one, which
waits for the first to commit — finds it and changes nothing. When applying fails, the transaction
rolls back (nothing of the message is written) and the refusal is logged in a transaction of its own;
a refused message may be sent again under the same id once the cause is fixed.

A service gives a :class:`Receiver` its log table (columns as in ``steward.issues.inbound.models``),
the ``TypeAdapter`` of its message union and the function that applies one message."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.auth import Principal
from steward.kit.db import Database, is_retryable_conflict
from steward.kit.errors import Conflict, DomainError, ValidationFailed, pydantic_details
from steward.kit.inbound import Sender

Apply = Callable[..., Awaitable[dict[str, Any]]]  # (session, *, principal, msg, now) -> target


Result = Literal["applied", "duplicate", "refused"]


class InboundError(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class InboundResult(BaseModel):
    message_id: str
    kind: str
    result: Result
    status: int = Field(description="the HTTP status the message alone would have got")
    received_at: datetime
    target: dict[str, Any] = Field(default_factory=dict, description="what the message changed")
    error: InboundError | None = None


class BulkOut(BaseModel):
    applied: int
    duplicates: int
    refused: int
    results: list[InboundResult]


class InboundLogItem(BaseModel):
    system: str
    message_id: str
    kind: str
    project_code: str | None
    received_at: datetime
    result: str
    status: int
    error_code: str | None
    target: dict[str, Any]


class InboundLog(BaseModel):
    items: list[InboundLogItem]


class Refused(Exception):
    """A refused message: its result (logged) and the domain error to answer with."""

    def __init__(self, result: InboundResult, error: DomainError) -> None:
        super().__init__(error.message)
        self.result = result
        self.error = error


class Receiver:
    def __init__(self, model: type[Any], message: TypeAdapter[Any], apply: Apply) -> None:
        self.model = model
        self.message = message
        self.apply = apply

    async def _claim(self, session: AsyncSession, *, sender: Sender, msg: Any, now: datetime) -> Any | None:
        """Insert the applied row; ``None`` when it is new, else the row of the earlier delivery."""
        m = self.model
        body = msg.model_dump(mode="json")
        new = (
            await session.execute(
                insert(m)
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
                .returning(col(m.id))
            )
        ).scalar()
        if new is not None:
            return None
        prior = (
            await session.exec(
                select(m).where(
                    m.system == sender.name, m.message_id == msg.message_id, m.result == "applied"
                )
            )
        ).one()
        if prior.body != body:
            raise Conflict(
                f"message id {msg.message_id} was applied already with another body", code="message_id_reused"
            )
        return prior

    async def _log_refusal(
        self, db: Database, *, sender: Sender, raw: dict[str, Any], error: DomainError, now: datetime
    ) -> InboundResult:
        message_id = str(raw.get("message_id") or "")[:128]
        kind = str(raw.get("kind") or "")[:64]
        code = raw.get("project_code")
        async with db.transaction() as session:
            session.add(
                self.model(
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

    def parse(self, raw: dict[str, Any]) -> Any:
        try:
            return self.message.validate_python(raw)
        except ValidationError as exc:
            raise ValidationFailed(
                "the message is not valid", details=pydantic_details(list(exc.errors()))
            ) from exc

    async def receive(
        self, db: Database, *, sender: Sender, raw: dict[str, Any], clock: Callable[[], datetime]
    ) -> InboundResult:
        """One message in its own transaction; raises :class:`Refused` (logged) when it does not fit."""
        m = self.model
        now = clock()
        try:
            msg = self.parse(raw)
            async with db.transaction() as session:
                prior = await self._claim(session, sender=sender, msg=msg, now=now)
                if prior is not None:
                    return InboundResult(
                        message_id=prior.message_id,
                        kind=prior.kind,
                        result="duplicate",
                        status=200,
                        received_at=prior.received_at,
                        target=prior.target,
                    )
                principal: Principal = sender.principal
                target = await self.apply(session, principal=principal, msg=msg, now=now)
                await session.execute(
                    sa.update(m)
                    .where(
                        col(m.system) == sender.name,
                        col(m.message_id) == msg.message_id,
                        col(m.result) == "applied",
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
            error = Conflict(
                "the data changed concurrently; send the message again", code="concurrent_update"
            )
        result = await self._log_refusal(db, sender=sender, raw=raw, error=error, now=now)
        raise Refused(result, error)

    async def receive_bulk(
        self, db: Database, *, sender: Sender, messages: list[dict[str, Any]], clock: Callable[[], datetime]
    ) -> BulkOut:
        """Each message on its own: one refused does not undo the others."""
        results = []
        for raw in messages:
            try:
                results.append(await self.receive(db, sender=sender, raw=raw, clock=clock))
            except Refused as refused:
                results.append(refused.result)
        return BulkOut(
            applied=sum(r.result == "applied" for r in results),
            duplicates=sum(r.result == "duplicate" for r in results),
            refused=sum(r.result == "refused" for r in results),
            results=results,
        )

    async def log(self, session: AsyncSession, *, systems: list[str], limit: int) -> list[Any]:
        """The newest messages of these systems, refused ones included."""
        m = self.model
        stmt = select(m).where(col(m.system).in_(systems)).order_by(col(m.received_at).desc()).limit(limit)
        return list((await session.exec(stmt)).all())
