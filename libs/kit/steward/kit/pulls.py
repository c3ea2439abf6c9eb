"""The kit's JetStream pull consumer: one loop under both kinds of subscription.

:meth:`steward.kit.bus.EventBus.subscribe` hands its handler one event at a time
(:class:`MessageSubscription`); :mod:`steward.kit.batches` hands its handler a batch. Both:

- a durable consumer with explicit acks, created (or updated) when the loop starts and bound by
  name; a message is acknowledged only after its handler returned;
- a long poll for the first message (it returns as soon as one arrives; an idle consumer costs one
  request per ``POLL_SECONDS``), then whatever else is waiting, up to the batch size, without
  waiting for more;
- a failed event is NACKed with a backoff: a transient failure (a dependency down, see
  :mod:`steward.kit.transient`) without spending the message's poison budget, any other failure
  until ``consumer_max_deliver``, then the message goes to ``steward.dlq.<consumer>``;
- on stop, the batch in hand finishes (its commit, then its acks) within the shutdown grace; a loop
  waiting in a fetch is cancelled (nothing is in hand; unacknowledged messages come back).

An empty fetch may end in nats-py's ``TimeoutError`` or in a bare ``asyncio`` one (when the deadline
runs out between its no-wait probe and its waiting request): both are simply "nothing yet".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import nats.js.api as js_api
import structlog
from nats.aio.msg import Msg
from opentelemetry import propagate, trace

from steward.events.envelope import CloudEvent
from steward.kit import metrics
from steward.kit.logs import THROTTLED
from steward.kit.transient import is_transient

if TYPE_CHECKING:
    from steward.kit.bus import EventBus

log = structlog.get_logger(__name__)
_tracer = trace.get_tracer("steward.kit.bus")

EventHandler = Callable[[CloudEvent], Awaitable[None]]

# a replayed dead letter carries the consumer it is for; other consumers skip it
REPLAY_HEADER = "Steward-Replay-For"
POLL_SECONDS = 5.0  # an idle consumer's long poll


class PoisonBudget:
    """Failures that were not transient, per message (stream sequence) of one consumer in this
    process. A restart forgets them, which only gives a message more tries, never fewer."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._failures: dict[int, int] = {}

    def failed(self, seq: int) -> int:
        count = self._failures.pop(seq, 0) + 1
        self._failures[seq] = count  # newest last
        if len(self._failures) > self.capacity:
            self._failures.pop(next(iter(self._failures)))
        return count

    def forget(self, seq: int) -> None:
        self._failures.pop(seq, None)


def stream_seq(msg: Msg) -> int:
    meta = msg.metadata
    return int(meta.sequence.stream) if meta is not None else 0


class PullConsumer:
    """A durable pull consumer and its loop; :meth:`handle` takes what one fetch returned."""

    def __init__(
        self,
        bus: EventBus,
        *,
        consumer: str,
        config: js_api.ConsumerConfig,
        fetch_batch: int,
        label: str | None = None,
        skip: Callable[[str], bool] | None = None,
        max_deliver: int | None = None,
    ) -> None:
        self.bus = bus
        self.settings = bus.settings
        self.consumer = consumer
        self.label = label or consumer  # the metrics' consumer label (stable across replicas)
        self.config = config
        self.fetch_batch = fetch_batch
        self.skip = skip or (lambda _subject: False)
        self.max_deliver = max_deliver or self.settings.consumer_max_deliver
        self._stopping = asyncio.Event()
        self._poison = PoisonBudget()
        self._sub: Any = None
        self._busy: asyncio.Future[None] | None = None
        self._task: asyncio.Task[Any] | None = None

    async def handle(self, msgs: list[Msg]) -> None:
        raise NotImplementedError

    # -- the loop --------------------------------------------------------------------------
    async def bind(self) -> None:
        js, stream = self.bus.js, self.settings.events_stream
        # create or update (NATS >= 2.10): an existing consumer keeps its position and takes the
        # new filter
        await js.add_consumer(stream, self.config)
        self._sub = await js.pull_subscribe_bind(durable=self.consumer, stream=stream)

    async def run(self) -> None:
        self._task = asyncio.current_task()
        failures = 0
        while not self._stopping.is_set():
            try:
                if self._sub is None:
                    await self.bind()
                msgs = await self._fetch()
                if not msgs:
                    continue
                if self._stopping.is_set():
                    for m in msgs:  # not handled: let another replica have them now
                        with contextlib.suppress(Exception):
                            await m.nak()
                    return
                self._busy = asyncio.ensure_future(self.handle(msgs))
                await asyncio.shield(self._busy)
                self._busy = None
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                THROTTLED.warning(
                    "bus.consume_error",
                    key=f"{self.consumer}:{type(exc).__name__}",
                    consumer=self.consumer,
                    error=str(exc)[:300],
                )
                self._sub = None if not self.bus.connected else self._sub
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=min(5.0, 0.1 * 2**failures))

    async def _fetch(self) -> list[Msg]:
        """The first message by a long poll, then what else is waiting (a fetch of many would wait
        until the batch is full or the poll expires)."""
        try:
            msgs: list[Msg] = await self._sub.fetch(1, timeout=POLL_SECONDS)
        except TimeoutError:  # nats.errors.TimeoutError is one
            return []
        more = self.fetch_batch - 1
        meta = msgs[0].metadata if msgs else None
        if meta is not None and not meta.num_pending:
            more = 0  # nothing else is waiting (the consumer's count when this one was delivered)
        if more > 0:
            with contextlib.suppress(TimeoutError):
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

    # -- one message's fate ----------------------------------------------------------------
    def count(self, result: str, n: int = 1) -> None:
        metrics.EVENTS_CONSUMED.labels(self.settings.service_name, self.label, result).inc(n)

    async def decoded(self, msg: Msg) -> CloudEvent | None:
        """The message's event; ``None`` once it is settled unread: acknowledged when it is not for
        this consumer (its ``skip``, a dead letter replayed for another consumer), dead-lettered
        when it is no CloudEvent."""
        if self.skip(msg.subject):
            await msg.ack()
            self.count("skipped")
            return None
        replay_for = (msg.headers or {}).get(REPLAY_HEADER)
        if replay_for and replay_for != self.consumer:
            await msg.ack()
            return None
        try:
            return CloudEvent.model_validate_json(msg.data)
        except ValueError as exc:
            await self.bus.dead_letter(self.consumer, msg, f"undecodable event: {exc}")
            await msg.ack()
            self.count("invalid")
            return None

    def span(self, msg: Msg, event: CloudEvent, **attributes: Any) -> dict[str, Any]:
        """A consumer span's arguments: a child of the relay's publish span (the trace of the
        request that wrote the event)."""
        return {
            "name": f"consume {event.short_type}",
            "context": propagate.extract(dict(msg.headers or {})),
            "kind": trace.SpanKind.CONSUMER,
            "attributes": {
                "messaging.system": "nats",
                "messaging.consumer.group.name": self.consumer,
                "cloudevents.event_id": event.id,
                "steward.tenant": event.tenant,
                **attributes,
            },
        }

    async def done(self, msg: Msg) -> None:
        self._poison.forget(stream_seq(msg))
        await msg.ack()

    async def failed(self, msg: Msg, event: CloudEvent, exc: BaseException) -> None:
        if is_transient(exc):
            # not the message's fault: retry until the dependency is back, budget untouched
            attempt = msg.metadata.num_delivered if msg.metadata else 1
            delay = min(self.bus.transient_max_delay, 0.2 * 2 ** min(attempt, 10))
            outcome, line, detail = "transient", "bus.dependency_unavailable", 200
        else:
            seq = stream_seq(msg)
            attempt = self._poison.failed(seq)
            if attempt >= self.max_deliver:
                await self.bus.dead_letter(self.consumer, msg, f"{type(exc).__name__}: {exc}")
                await msg.ack()
                self._poison.forget(seq)
                self.count("dead_lettered")
                log.error("bus.dead_lettered", consumer=self.consumer, event_id=event.id, error=str(exc))
                return
            delay = min(30.0, 0.2 * 2**attempt)
            outcome, line, detail = "retry", "bus.handler_failed", 500
        await msg.nak(delay=delay)
        self.count(outcome)
        THROTTLED.warning(
            line,
            key=f"{self.consumer}:{type(exc).__name__}",
            consumer=self.consumer,
            event_id=event.id,
            attempt=attempt,
            error=str(exc)[:detail],
        )


class MessageSubscription(PullConsumer):
    """A handler that takes one event at a time; the events of one fetch are handled concurrently
    (no consumer relies on their order: they de-duplicate, and scoring orders by event time)."""

    def __init__(self, bus: EventBus, *, handler: EventHandler, **kwargs: Any) -> None:
        super().__init__(bus, **kwargs)
        self.handler = handler

    async def handle(self, msgs: list[Msg]) -> None:
        if len(msgs) == 1:
            await self._one(msgs[0])
            return
        # every event of the fetch is settled before the loop goes on (or stops): an ack that failed
        # for one (the connection lost) must not leave the others running unwatched
        outcomes = await asyncio.gather(*(self._one(m) for m in msgs), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _one(self, msg: Msg) -> None:
        event = await self.decoded(msg)
        if event is None:
            return
        try:
            with _tracer.start_as_current_span(**self.span(msg, event)):
                await self.handler(event)
        except Exception as exc:
            await self.failed(msg, event, exc)
            return
        await self.done(msg)
        self.count("ok")
