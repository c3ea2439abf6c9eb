"""Consuming events in batches: a durable pull consumer whose handler gets up to ``fetch_batch``
events at once (one transaction for the batch's de-duplication rows and its work), for a consumer
that does the same thing for many events (notify's fan-out, a bulk import's echoes).

:meth:`steward.kit.bus.EventBus.subscribe` hands its handler one event at a time; this keeps its
semantics message by message:

- explicit acks, each message acknowledged only after the batch's handler returned (its
  transaction committed): nothing acknowledged is lost;
- a **subject filter** of several subjects (``filter_subjects``, NATS ≥ 2.10): events the consumer
  does not want are never delivered to it; ``skip(subject)`` stays as a second line;
- an undecodable body goes to ``steward.dlq.<consumer>`` at once; a failed event (the handler's
  :class:`Outcome`) is NACKed with a backoff, transient failures (a dependency down) without
  spending the message's poison budget, other failures until ``consumer_max_deliver``, then
  dead-lettered;
- a dead letter replayed for another consumer is acknowledged unread;
- one consumer span per event, child of the relay's publish span (the trace of the request that
  wrote it), ending with the batch that handled it.

A service runs one with :meth:`steward.kit.runtime.Runtime.add_batch_subscription`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import nats.errors
import nats.js.api as js_api
import structlog
from nats.aio.msg import Msg
from opentelemetry import propagate, trace

from steward.events.envelope import CloudEvent
from steward.kit import metrics as kit_metrics
from steward.kit.bus import REPLAY_HEADER, EventBus, PoisonBudget
from steward.kit.logs import THROTTLED
from steward.kit.transient import is_transient

log = structlog.get_logger(__name__)
_tracer = trace.get_tracer("steward.kit.batches")


@dataclass
class Outcome:
    """What became of one event of a batch: ``None`` = handled (ack), else the failure."""

    error: BaseException | None = None


BatchHandler = Callable[[Sequence[CloudEvent]], Awaitable[list[Outcome]]]


class BatchSubscription:
    """A durable pull consumer handing its handler batches of events (see the module's doc)."""

    def __init__(
        self,
        bus: EventBus,
        *,
        consumer: str,
        subjects: Sequence[str],
        handler: BatchHandler,
        fetch_batch: int = 256,
        ack_wait: float = 60.0,
        skip: Callable[[str], bool] | None = None,
    ) -> None:
        if not subjects:
            raise ValueError("a batch subscription needs at least one subject")
        self.bus = bus
        self.settings = bus.settings
        self.handler = handler
        self.consumer = consumer
        self.subjects = list(subjects)
        self.fetch_batch = fetch_batch
        self.ack_wait = ack_wait
        self.skip = skip or (lambda _subject: False)
        self._stopping = asyncio.Event()
        self._poison = PoisonBudget()
        self._sub: Any = None
        self._busy: asyncio.Future[None] | None = None
        self._task: asyncio.Task[Any] | None = None
        if self.consumer not in bus.shared_consumers:
            bus.shared_consumers.append(self.consumer)  # readiness: dead letters, consumer lag

    def consumer_config(self) -> js_api.ConsumerConfig:
        subjects = self.subjects
        return js_api.ConsumerConfig(
            durable_name=self.consumer,
            ack_policy=js_api.AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            max_deliver=-1,
            max_ack_pending=max(1000, self.fetch_batch * 4),
            deliver_policy=js_api.DeliverPolicy.ALL,
            filter_subjects=subjects if len(subjects) > 1 else None,
            filter_subject=subjects[0] if len(subjects) == 1 else None,
        )

    async def _ensure_consumer(self) -> None:
        js, stream = self.bus.js, self.settings.events_stream
        config = self.consumer_config()
        # create or update (NATS >= 2.10): an existing consumer (e.g. made by an older version with
        # the single filter ``<prefix>.>``) keeps its position and takes the new filter
        await js.add_consumer(stream, config)
        self._sub = await js.pull_subscribe_bind(durable=self.consumer, stream=stream)

    async def run(self) -> None:
        self._task = asyncio.current_task()
        failures = 0
        while not self._stopping.is_set():
            try:
                if self._sub is None:
                    await self._ensure_consumer()
                msgs = await self._fetch()
                if not msgs:
                    continue
                if self._stopping.is_set():
                    for m in msgs:  # not handled: let another replica have them now
                        with contextlib.suppress(Exception):
                            await m.nak()
                    return
                self._busy = asyncio.ensure_future(self._process(msgs))
                await asyncio.shield(self._busy)
                self._busy = None
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                THROTTLED.warning(
                    "bus.batch_consume_error",
                    key=f"{self.consumer}:{type(exc).__name__}",
                    error=str(exc)[:300],
                )
                self._sub = None if not self.bus.connected else self._sub
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=min(5.0, 0.1 * 2**failures))

    async def _fetch(self) -> list[Msg]:
        """A long poll for the first message (returns as soon as one arrives; an idle consumer
        costs one request per 5 s), then whatever else is waiting, up to the batch size, without
        waiting for more (a fetch of many would wait until the batch is full or the poll expires)."""
        try:
            msgs: list[Msg] = await self._sub.fetch(1, timeout=5.0)
        except nats.errors.TimeoutError:
            return []
        more = self.fetch_batch - 1
        meta = msgs[0].metadata if msgs else None
        if meta is not None and not meta.num_pending:
            more = 0  # nothing else is waiting (the consumer's count when this one was delivered)
        if more > 0:
            with contextlib.suppress(nats.errors.TimeoutError):
                msgs += await self._sub.fetch(more, timeout=0.01)
        return msgs

    async def stop(self) -> None:
        self._stopping.set()
        if self._busy is not None:  # the batch in hand finishes (commit, then acks)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._busy), self.settings.shutdown_grace_seconds)
        if self._task is not None and not self._task.done() and self._busy is None:
            self._task.cancel()  # waiting in a fetch: nothing in hand (unacked messages come back)
            with contextlib.suppress(BaseException):
                await self._task
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    # -- one batch -------------------------------------------------------------------------
    def _count(self, result: str, n: int = 1) -> None:
        kit_metrics.EVENTS_CONSUMED.labels(self.settings.service_name, self.consumer, result).inc(n)

    async def _process(self, msgs: list[Msg]) -> None:
        events: list[CloudEvent] = []
        carriers: list[Msg] = []
        for msg in msgs:
            if self.skip(msg.subject):
                await msg.ack()  # not for this consumer (a second line behind the subject filter)
                self._count("skipped")
                continue
            headers = msg.headers or {}
            replay_for = headers.get(REPLAY_HEADER)
            if replay_for and replay_for != self.consumer:
                await msg.ack()  # a dead letter replayed for another consumer: not ours
                continue
            try:
                event = CloudEvent.model_validate_json(msg.data)
            except ValueError as exc:
                await self.bus.dead_letter(self.consumer, msg, f"undecodable event: {exc}")
                await msg.ack()
                self._count("invalid")
                continue
            events.append(event)
            carriers.append(msg)
        if not events:
            return
        # one consumer span per event, child of the relay's publish span (the trace of the request
        # that wrote the event), as the kit's consumers do; it ends with the batch that handled it
        spans = [
            _tracer.start_span(
                f"consume {event.short_type}",
                context=propagate.extract(dict(msg.headers or {})),
                kind=trace.SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "nats",
                    "messaging.consumer.group.name": self.consumer,
                    "messaging.batch.message_count": len(events),
                    "cloudevents.event_id": event.id,
                    "steward.tenant": event.tenant,
                },
            )
            for msg, event in zip(carriers, events, strict=True)
        ]
        try:
            outcomes = await self.handler(events)
        except Exception as exc:  # the handler isolates events itself; this is the whole batch failing
            outcomes = [Outcome(exc) for _ in events]
        for span, outcome in zip(spans, outcomes, strict=True):
            if outcome.error is not None:
                span.record_exception(outcome.error)
                span.set_status(trace.Status(trace.StatusCode.ERROR, type(outcome.error).__name__))
            span.end()
        ok = 0
        for msg, event, outcome in zip(carriers, events, outcomes, strict=True):
            if outcome.error is None:
                self._poison.forget(_seq(msg))
                await msg.ack()
                ok += 1
            else:
                await self._failed(msg, event, outcome.error)
        if ok:
            self._count("ok", ok)

    async def _failed(self, msg: Msg, event: CloudEvent, exc: BaseException) -> None:
        delivered = msg.metadata.num_delivered if msg.metadata else 1
        if is_transient(exc):
            # not the message's fault: retry until the dependency is back, budget untouched
            await msg.nak(delay=min(30.0, 0.2 * 2 ** min(delivered, 10)))
            self._count("transient")
            THROTTLED.warning(
                "bus.dependency_unavailable",
                key=f"{self.consumer}:{type(exc).__name__}",
                consumer=self.consumer,
                event_id=event.id,
                attempt=delivered,
                error=str(exc)[:200],
            )
            return
        seq = _seq(msg)
        failures = self._poison.failed(seq)
        if failures >= self.settings.consumer_max_deliver:
            await self.bus.dead_letter(self.consumer, msg, f"{type(exc).__name__}: {exc}")
            await msg.ack()
            self._poison.forget(seq)
            self._count("dead_lettered")
            log.error("bus.dead_lettered", consumer=self.consumer, event_id=event.id, error=str(exc))
        else:
            await msg.nak(delay=min(30.0, 0.2 * 2**failures))
            self._count("retry")
            THROTTLED.warning(
                "bus.handler_failed",
                key=f"{self.consumer}:{type(exc).__name__}",
                consumer=self.consumer,
                event_id=event.id,
                attempt=failures,
                error=str(exc)[:500],
            )


def _seq(msg: Msg) -> int:
    meta = msg.metadata
    return int(meta.sequence.stream) if meta is not None else 0
