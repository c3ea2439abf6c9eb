"""The event bus: NATS JetStream through FastStream.

- One stream for events (``steward.events.>``, file storage, explicit duplicate window and limits)
  and one for dead letters (``steward.dlq.<consumer>``).
- Publishing sets ``Nats-Msg-Id`` to the event id (FastStream's ``message_id`` is not that header).
- Consumers are durable pull consumers with manual acks: a handler that raises is NACKed with a
  backoff (never dropped). A transient failure (a dependency down, a timeout: see
  :mod:`steward.kit.transient`) is retried for as long as it takes without spending the message's
  poison budget; after ``max_deliver`` other failures the message goes to the consumer's
  dead-letter subject and is acknowledged. Dead letters can be replayed (:mod:`steward.kit.deadletters`).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import nats.js.api as js_api
import structlog
from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from opentelemetry import propagate, trace

from steward.events.envelope import CloudEvent
from steward.kit import metrics, natsfix
from steward.kit.logs import THROTTLED
from steward.kit.settings import ServiceSettings
from steward.kit.transient import is_transient

log = structlog.get_logger(__name__)
_tracer = trace.get_tracer("steward.kit.bus")
_FASTSTREAM_LOG = logging.getLogger("steward.bus.faststream")
_FASTSTREAM_LOG.setLevel(logging.WARNING)
natsfix.apply()  # an empty pull fetch is not an ERROR (see steward.kit.natsfix)

EventHandler = Callable[[CloudEvent], Awaitable[None]]

DLQ_STREAM = "STEWARD_DLQ"
DLQ_PREFIX = "steward.dlq"
# a replayed dead letter carries the consumer it is for; other consumers skip it
REPLAY_HEADER = "Steward-Replay-For"
# this process among the replicas of a service (per-replica consumers carry it)
REPLICA_ID = uuid.uuid4().hex[:10]


def consumer_batch(settings: ServiceSettings) -> int:
    """Events a consumer handles at once by default: up to 32, leaving two of the database pool's
    connections to the rest of the service."""
    return max(1, min(32, settings.database_pool_size - 2))


class EventBus:
    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        # per-message processing logs at DEBUG: an INFO deployment should not print two lines per event
        self.broker = NatsBroker(
            settings.nats_servers,
            graceful_timeout=settings.shutdown_grace_seconds,
            log_level=logging.DEBUG,
            # our logger, not FastStream's own coloured stdout handler: its lines go through the root
            # JSON handler like every other line; WARNING drops its per-message and task-callback INFO
            logger=_FASTSTREAM_LOG,
            # no dependency injection: the one handler takes the message itself (``_the_message``).
            # With it, FastDepends fetched that message from its context in a worker thread, a
            # thread hop for every event (issue 15)
            apply_types=False,
        )
        self.events_stream = JStream(
            name=settings.events_stream, subjects=[f"{settings.events_subject_prefix}.>"], declare=False
        )
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        self.shared_consumers: list[str] = []
        self.transient_max_delay = 30.0

    # -- lifecycle -------------------------------------------------------------------------
    async def connect(self) -> None:
        self._client = await self.broker.connect()
        self._js = self._client.jetstream()
        await self.ensure_streams()

    async def start(self) -> None:
        """Connect, declare streams, start subscribers."""
        if self._client is None:
            await self.connect()
        await self.broker.start()

    async def stop(self) -> None:
        await self.broker.stop()
        self._client = None
        self._js = None

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("event bus is not connected")
        return self._js

    async def ensure_streams(self) -> None:
        """Declare the streams, or with ``events_streams_managed`` (provisioned by the platform,
        e.g. the NACK controller of the Helm chart) only check that they exist: no admin rights."""
        for config in self.stream_configs():
            if self.settings.events_streams_managed:
                await _check_stream(self.js, config)
            else:
                await _ensure_stream(self.js, config)

    def stream_configs(self) -> list[js_api.StreamConfig]:
        s = self.settings
        return [
            js_api.StreamConfig(
                name=s.events_stream,
                subjects=[f"{s.events_subject_prefix}.>"],
                storage=js_api.StorageType.FILE,
                retention=js_api.RetentionPolicy.LIMITS,
                duplicate_window=s.events_duplicate_window_seconds,
                max_age=s.events_max_age_days * 86400.0,
                max_bytes=s.events_max_bytes,
                discard=js_api.DiscardPolicy.OLD,
                num_replicas=s.events_stream_replicas,
            ),
            js_api.StreamConfig(
                name=DLQ_STREAM,
                subjects=[f"{DLQ_PREFIX}.>"],
                storage=js_api.StorageType.FILE,
                max_age=90 * 86400.0,
                duplicate_window=s.events_duplicate_window_seconds,
                num_replicas=s.events_stream_replicas,
            ),
        ]

    # -- publishing ------------------------------------------------------------------------
    async def publish_event(self, *, subject: str, body: bytes, msg_id: str, headers: dict[str, str]) -> None:
        """Publish to JetStream and wait for the stream's ack; duplicates are dropped by the stream."""
        await self.js.publish(
            subject,
            body,
            timeout=5.0,
            stream=self.settings.events_stream,
            headers={**headers, "Nats-Msg-Id": msg_id, "content-type": "application/cloudevents+json"},
        )

    # -- consuming -------------------------------------------------------------------------
    def subscribe(
        self,
        subject: str,
        *,
        consumer: str,
        handler: EventHandler,
        batch_size: int | None = None,
        max_deliver: int | None = None,
        ack_wait: float = 30.0,
        per_replica: bool = False,
        skip: Callable[[str], bool] | None = None,
    ) -> None:
        """A durable pull consumer named ``consumer`` on ``subject`` with manual acks and a DLQ.

        ``per_replica``: every replica gets its own consumer (``<consumer>-<replica id>``, new events
        only, removed by JetStream after 10 idle minutes) — for work each replica must do itself,
        such as dropping a cache on ``rules.updated``. Otherwise the replicas share one consumer and
        each event is handled by one of them.

        ``batch_size``: how many events are fetched at once — and handled at once (the subscriber
        runs a fetched batch's handlers concurrently). By default fewer than the database pool
        holds: past it, each handler's transaction takes an overflow connection that is opened for
        it and closed after it (a connect per event; measured on scoring's consumer: 6.4 → 3.5 ms
        of CPU per event in the service and 3.9 → 0.7 ms in PostgreSQL, 32 → 8 at once)."""
        if batch_size is None:
            batch_size = consumer_batch(self.settings)
        limit = max_deliver or self.settings.consumer_max_deliver
        label = consumer  # the metrics' consumer label: stable, without the per-replica suffix
        if per_replica:
            consumer = f"{consumer}-{REPLICA_ID}"
        else:
            self.shared_consumers.append(consumer)
        service = self.settings.service_name
        poison = PoisonBudget()

        async def _consume(msg: NatsMessage) -> None:
            # The raw bytes, never FastStream's content-type based decoding: a JSON body that is not
            # a CloudEvent would fail FastStream's argument validation before this code runs, and
            # with manual acks the message would then be redelivered forever instead of dead-lettered.
            if skip is not None and skip(msg.raw_message.subject):
                await msg.ack()  # not for this consumer (e.g. notify's own delivery.* events)
                metrics.EVENTS_CONSUMED.labels(service, label, "skipped").inc()
                return
            body = msg.body
            delivered = msg.raw_message.metadata.num_delivered if msg.raw_message.metadata else 1
            try:
                event = CloudEvent.model_validate_json(body)
            except ValueError as exc:
                await self.dead_letter(consumer, msg.raw_message, f"undecodable event: {exc}")
                await msg.ack()
                metrics.EVENTS_CONSUMED.labels(service, label, "invalid").inc()
                return
            headers = dict(msg.raw_message.headers or {})
            replay_for = headers.get(REPLAY_HEADER)
            if replay_for and replay_for != consumer:
                await msg.ack()  # a dead letter replayed for another consumer: not ours
                return
            parent = propagate.extract(headers)
            try:
                with _tracer.start_as_current_span(
                    f"consume {event.short_type}",
                    context=parent,
                    kind=trace.SpanKind.CONSUMER,
                    attributes={
                        "messaging.system": "nats",
                        "messaging.consumer.group.name": consumer,
                        "cloudevents.event_id": event.id,
                        "steward.tenant": event.tenant,
                    },
                ):
                    await handler(event)
            except Exception as exc:
                seq = _stream_seq(msg)
                if is_transient(exc):
                    # not the message's fault: retry until the dependency is back, budget untouched
                    await msg.nack(delay=min(self.transient_max_delay, 0.2 * 2 ** min(delivered, 10)))
                    metrics.EVENTS_CONSUMED.labels(service, label, "transient").inc()
                    THROTTLED.warning(
                        "bus.dependency_unavailable",
                        key=f"{consumer}:{type(exc).__name__}",
                        consumer=consumer,
                        event_id=event.id,
                        attempt=delivered,
                        error=str(exc)[:200],
                    )
                    return
                failures = poison.failed(seq)
                if failures >= limit:
                    await self.dead_letter(consumer, msg.raw_message, f"{type(exc).__name__}: {exc}")
                    await msg.ack()
                    poison.forget(seq)
                    metrics.EVENTS_CONSUMED.labels(service, label, "dead_lettered").inc()
                    log.error("bus.dead_lettered", consumer=consumer, event_id=event.id, error=str(exc))
                else:
                    await msg.nack(delay=min(30.0, 0.2 * 2**failures))
                    metrics.EVENTS_CONSUMED.labels(service, label, "retry").inc()
                    THROTTLED.warning(
                        "bus.handler_failed",
                        key=f"{consumer}:{type(exc).__name__}",
                        consumer=consumer,
                        event_id=event.id,
                        attempt=failures,
                        error=str(exc)[:500],
                    )
                return
            poison.forget(_stream_seq(msg))
            await msg.ack()
            metrics.EVENTS_CONSUMED.labels(service, label, "ok").inc()

        self.broker.subscriber(
            subject,
            stream=self.events_stream,
            durable=consumer,
            # a fetch returns as soon as a message arrives; the timeout only paces idle round trips
            pull_sub=PullSub(batch_size=batch_size, timeout=5.0),
            ack_policy=AckPolicy.MANUAL,
            decoder=_the_message,
            config=js_api.ConsumerConfig(
                durable_name=consumer,
                ack_policy=js_api.AckPolicy.EXPLICIT,
                ack_wait=ack_wait,
                max_deliver=-1,
                deliver_policy=js_api.DeliverPolicy.NEW if per_replica else js_api.DeliverPolicy.ALL,
                inactive_threshold=600.0 if per_replica else None,
            ),
        )(_consume)

    async def pending(self) -> dict[str, int]:
        """Per shared consumer: events not yet delivered plus delivered and not yet acknowledged."""
        out: dict[str, int] = {}
        for consumer in self.shared_consumers:
            info = await self.js.consumer_info(self.settings.events_stream, consumer)
            out[consumer] = int(info.num_pending or 0) + int(info.num_ack_pending or 0)
        return out

    async def dead_letter(self, consumer: str, raw: Msg, reason: str) -> None:
        """Park ``raw`` on ``steward.dlq.<consumer>`` with the reason and the subject it came on."""
        headers: dict[str, Any] = dict(raw.headers or {})
        headers.pop("Nats-Msg-Id", None)
        headers.update({"Steward-Dlq-Reason": reason[:500], "Steward-Dlq-Subject": raw.subject})
        await self.js.publish(f"{DLQ_PREFIX}.{consumer}", raw.data, headers=headers, stream=DLQ_STREAM)


async def _the_message(msg: NatsMessage) -> NatsMessage:
    """The subscribers' decoder: their handler gets the message (body, headers, ack) itself."""
    return msg


def _stream_seq(msg: NatsMessage) -> int:
    meta = msg.raw_message.metadata
    return int(meta.sequence.stream) if meta is not None else 0


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


def _stream_shape(config: js_api.StreamConfig) -> tuple[Any, ...]:
    unlimited = (None, 0, -1)  # the server reports "no limit" as -1 or 0
    return (
        config.subjects,
        config.duplicate_window,
        None if config.max_age in unlimited else config.max_age,
        None if config.max_bytes in unlimited else config.max_bytes,
        config.num_replicas or 1,
    )


async def _check_stream(js: JetStreamContext, config: js_api.StreamConfig) -> None:
    """A stream someone else provisions: it must exist; a different shape is only reported."""
    try:
        info = await js.stream_info(config.name or "")
    except NotFoundError as exc:
        raise RuntimeError(
            f"JetStream stream {config.name} is not provisioned (events_streams_managed)"
        ) from exc
    if _stream_shape(info.config) != _stream_shape(config):
        log.warning(
            "bus.stream_differs",
            stream=config.name,
            provisioned=repr(_stream_shape(info.config)),
            expected=repr(_stream_shape(config)),
        )


async def _ensure_stream(js: JetStreamContext, config: js_api.StreamConfig) -> None:
    try:
        info = await js.stream_info(config.name or "")
    except NotFoundError:
        await js.add_stream(config)
        return
    current = info.config
    if (
        current.subjects,
        current.duplicate_window,
        current.max_age,
        current.max_bytes,
        current.num_replicas or 1,
    ) != (config.subjects, config.duplicate_window, config.max_age, config.max_bytes, config.num_replicas):
        await js.update_stream(config)


def decode_event(body: bytes) -> CloudEvent:
    return CloudEvent.model_validate(json.loads(body))
