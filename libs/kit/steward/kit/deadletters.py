"""Dead letters: what is waiting, and replaying it.

A message lands on ``steward.dlq.<consumer>`` only after failures that were not transient (see
:mod:`steward.kit.bus`). Once the cause is fixed (a bug, a rule, a missing row), an operator
replays them: each is published again on its original subject with ``Steward-Replay-For:
<consumer>`` (other consumers skip it; the consumer's de-duplication still applies) and is then
removed from the dead-letter stream. The REST API (platform admins, served by the registry) and
``steward dlq`` use these functions.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from nats.errors import NoRespondersError
from nats.js import JetStreamContext
from nats.js.errors import APIError, NoStreamResponseError, NotFoundError
from pydantic import BaseModel

from steward.kit import audit
from steward.kit.auth import Role
from steward.kit.bus import DLQ_PREFIX, DLQ_STREAM, REPLAY_HEADER
from steward.kit.errors import Conflict, Unavailable
from steward.kit.http import DatabaseDep, PrincipalDep
from steward.kit.inputs import clean_request

_DLQ_HEADERS = ("Steward-Dlq-Reason", "Steward-Dlq-Subject", "Nats-Msg-Id")


@dataclass(frozen=True)
class DeadLetter:
    sequence: int
    consumer: str
    subject: str
    reason: str
    event_id: str | None
    event_type: str | None


async def waiting(js: JetStreamContext) -> dict[str, int]:
    """Dead letters waiting, per consumer."""
    try:
        info = await js.stream_info(DLQ_STREAM, subjects_filter=f"{DLQ_PREFIX}.>")
    except NotFoundError:
        return {}
    subjects: dict[str, int] = info.state.subjects or {}
    prefix = f"{DLQ_PREFIX}."
    return {subject[len(prefix) :]: count for subject, count in sorted(subjects.items()) if count}


async def peek(js: JetStreamContext, consumer: str, *, limit: int = 50) -> list[DeadLetter]:
    """The oldest dead letters of ``consumer`` (without removing them)."""
    out: list[DeadLetter] = []
    async for seq, msg in _iterate(js, consumer):
        out.append(_describe(seq, consumer, msg))
        if len(out) >= limit:
            break
    return out


async def replay(js: JetStreamContext, consumer: str, *, limit: int = 1000) -> int:
    """Publish up to ``limit`` dead letters of ``consumer`` again, oldest first; returns how many.

    Each is removed from the dead-letter stream only after the events stream acknowledged it, so a
    crash mid-way replays some twice (de-duplicated by the consumer), never loses one."""
    done = 0
    async for seq, msg in _iterate(js, consumer):
        headers = {
            k: v
            for k, v in (msg.headers or {}).items()
            if k not in _DLQ_HEADERS and not k.startswith("Nats-Expected")
        }
        original = (msg.headers or {}).get("Steward-Dlq-Subject")
        if not original:
            continue
        headers[REPLAY_HEADER] = consumer
        headers["Nats-Msg-Id"] = f"replay:{consumer}:{seq}"
        try:
            await js.publish(original, msg.data or b"", headers=headers)
        except (NoRespondersError, NoStreamResponseError, APIError) as exc:
            raise Conflict(
                f"dead letter {seq} cannot be published again on {original}: {exc}; "
                f"{done} replayed before it",
                code="replay_failed",
            ) from exc
        await js.delete_msg(DLQ_STREAM, seq)
        done += 1
        if done >= limit:
            break
    return done


async def _iterate(js: JetStreamContext, consumer: str) -> Any:
    subject = f"{DLQ_PREFIX}.{consumer}"
    seq = 1
    while True:
        try:
            msg = await js.get_msg(DLQ_STREAM, seq=seq, subject=subject, next=True)
        except NotFoundError:
            return
        if msg.seq is None:
            return
        yield msg.seq, msg
        seq = msg.seq + 1


def _describe(seq: int, consumer: str, msg: Any) -> DeadLetter:
    headers = msg.headers or {}
    event_id = event_type = None
    try:
        body = json.loads(msg.data or b"{}")
        if isinstance(body, dict):
            event_id, event_type = body.get("id"), body.get("type")
    except ValueError:
        pass
    return DeadLetter(
        sequence=seq,
        consumer=consumer,
        subject=str(headers.get("Steward-Dlq-Subject", "")),
        reason=str(headers.get("Steward-Dlq-Reason", "")),
        event_id=str(event_id) if event_id is not None else None,
        event_type=str(event_type) if event_type is not None else None,
    )


# -- REST (platform admins; the registry serves it for the whole platform) ------------------------
CONSUMER_PATTERN = r"^[A-Za-z0-9_-]{1,120}$"


class DeadLetterCount(BaseModel):
    consumer: str
    waiting: int


class DeadLetterCounts(BaseModel):
    items: list[DeadLetterCount]


class DeadLetterOut(BaseModel):
    sequence: int
    consumer: str
    subject: str
    reason: str
    event_id: str | None
    event_type: str | None


class DeadLetterList(BaseModel):
    items: list[DeadLetterOut]


class Replayed(BaseModel):
    consumer: str
    replayed: int


def _js(request: Request) -> JetStreamContext:
    bus = request.app.state.runtime.bus
    if not bus.connected:
        raise Unavailable("the event bus is not connected; retry later")
    js: JetStreamContext = bus.js
    return js


router = APIRouter(prefix="/v1/dead-letters", tags=["operations"], dependencies=[Depends(clean_request)])

ConsumerPath = Annotated[str, Path(pattern=CONSUMER_PATTERN, description="durable consumer name")]


@router.get("", response_model=DeadLetterCounts, summary="Dead letters waiting, per consumer")
async def counts_view(request: Request, principal: PrincipalDep) -> DeadLetterCounts:
    principal.require(Role.PLATFORM_ADMIN)
    counts = await waiting(_js(request))
    return DeadLetterCounts(items=[DeadLetterCount(consumer=c, waiting=n) for c, n in counts.items()])


@router.get("/{consumer}", response_model=DeadLetterList, summary="The oldest dead letters of a consumer")
async def list_view(
    request: Request,
    principal: PrincipalDep,
    consumer: ConsumerPath,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DeadLetterList:
    principal.require(Role.PLATFORM_ADMIN)
    letters = await peek(_js(request), consumer, limit=limit)
    return DeadLetterList(items=[DeadLetterOut(**asdict(letter)) for letter in letters])


@router.post("/{consumer}/replay", response_model=Replayed, summary="Replay a consumer's dead letters")
async def replay_view(
    request: Request,
    principal: PrincipalDep,
    db: DatabaseDep,
    consumer: ConsumerPath,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Replayed:
    principal.require(Role.PLATFORM_ADMIN)
    count = await replay(_js(request), consumer, limit=limit)
    async with db.transaction() as session:
        await audit.record(
            session,
            actor=principal.subject,
            tenant=principal.tenant,
            action="dead_letters.replayed",
            entity="consumer",
            entity_id=consumer,
            changes={"replayed": count},
        )
    return Replayed(consumer=consumer, replayed=count)
