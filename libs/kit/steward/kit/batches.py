"""Consuming events in batches: a durable pull consumer whose handler gets up to ``fetch_batch``
events at once (one transaction for the batch's de-duplication rows and its work), for a consumer
that does the same thing for many events (notify's fan-out, a bulk import's echoes).

:meth:`steward.kit.bus.EventBus.subscribe` hands its handler one event at a time; this keeps its
semantics message by message (both run the loop of :mod:`steward.kit.pulls`):

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

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import nats.js.api as js_api
from nats.aio.msg import Msg
from opentelemetry import trace

from steward.events.envelope import CloudEvent
from steward.kit.bus import EventBus
from steward.kit.pulls import PullConsumer

_tracer = trace.get_tracer("steward.kit.batches")


@dataclass
class Outcome:
    """What became of one event of a batch: ``None`` = handled (ack), else the failure."""

    error: BaseException | None = None


BatchHandler = Callable[[Sequence[CloudEvent]], Awaitable[list[Outcome]]]


class BatchSubscription(PullConsumer):
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
        config = js_api.ConsumerConfig(
            durable_name=consumer,
            ack_policy=js_api.AckPolicy.EXPLICIT,
            ack_wait=ack_wait,
            max_deliver=-1,
            max_ack_pending=max(1000, fetch_batch * 4),
            deliver_policy=js_api.DeliverPolicy.ALL,
            filter_subjects=list(subjects) if len(subjects) > 1 else None,
            filter_subject=subjects[0] if len(subjects) == 1 else None,
        )
        super().__init__(bus, consumer=consumer, config=config, fetch_batch=fetch_batch, skip=skip)
        self.handler = handler
        if self.consumer not in bus.shared_consumers:
            bus.shared_consumers.append(self.consumer)  # readiness: dead letters, consumer lag

    async def handle(self, msgs: list[Msg]) -> None:
        events: list[CloudEvent] = []
        carriers: list[Msg] = []
        for msg in msgs:
            # skip: a second line behind the subject filter
            if (event := await self.decoded(msg)) is not None:
                events.append(event)
                carriers.append(msg)
        if not events:
            return
        # one consumer span per event, as the kit's consumers do; it ends with the batch that handled it
        spans = [
            _tracer.start_span(**self.span(msg, event, **{"messaging.batch.message_count": len(events)}))
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
                await self.done(msg)
                ok += 1
            else:
                await self.failed(msg, event, outcome.error)
        if ok:
            self.count("ok", ok)
