"""The dev platform clock: in dev mode (``STEWARD_ENVIRONMENT=dev``) only, every service's
``runtime.clock`` runs ahead of the wall clock by the offset the registry sets
(``POST /v1/dev/clock``, ``steward dev clock +3d``), so deadlines, reminders, escalation and report
due dates can be watched in minutes.

The registry announces each change as a ``platform.clock_changed`` event (through its outbox). Each
replica of each service follows it with its own consumer; on start it reads the latest such event
still in the stream, so a service (re)started after a change runs on the same time as the others.
Outside dev mode nothing here runs, and the registry refuses to move the clock.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import nats.js.api as js_api
import structlog

from steward.events.envelope import CloudEvent
from steward.kit.clock import Clock

if TYPE_CHECKING:
    from steward.kit.runtime import ServiceRuntime

log = structlog.get_logger(__name__)

DEV = "dev"
AGGREGATE = "platform"
EVENT = "clock_changed"


def subject(prefix: str) -> str:
    """The subjects of ``platform.clock_changed`` events of every tenant."""
    return f"{prefix}.*.{AGGREGATE}.{EVENT}"


def follows(runtime: ServiceRuntime) -> bool:
    """Whether this runtime follows the platform clock: dev mode and a settable kit clock."""
    return runtime.settings.environment == DEV and isinstance(runtime.clock, Clock)


def offset_of(event: CloudEvent) -> timedelta:
    return timedelta(seconds=float(event.data["offset_seconds"]))


def apply(clock: Clock, offset: timedelta, *, service: str) -> bool:
    """Set the clock's offset; a change to the offset it already has does nothing, and a clock pinned
    to a fixed time (by a test or a benchmark) stays pinned whatever the platform clock does."""
    if clock.pinned or clock.offset == offset:
        return False
    clock.set_offset(offset)
    log.info(
        "devclock.changed", service=service, offset_seconds=offset.total_seconds(), now=clock().isoformat()
    )
    return True


async def latest(runtime: ServiceRuntime) -> CloudEvent | None:
    """The newest ``platform.clock_changed`` event in the stream (last per subject, highest sequence)."""
    s = runtime.settings
    sub = await runtime.bus.js.pull_subscribe(
        subject(s.events_subject_prefix),
        stream=s.events_stream,
        config=js_api.ConsumerConfig(
            deliver_policy=js_api.DeliverPolicy.LAST_PER_SUBJECT,
            ack_policy=js_api.AckPolicy.NONE,
            inactive_threshold=30.0,
        ),
    )
    newest: tuple[int, Any] | None = None
    try:
        pending = (await sub.consumer_info()).num_pending or 0  # no move yet: no waiting at all
        while pending > 0:
            try:
                messages = await sub.fetch(batch=min(pending, 256), timeout=2.0)
            except TimeoutError:  # nats-py raises its own and, when a fetch's time runs out, asyncio's
                break
            for msg in messages:
                seq = msg.metadata.sequence.stream
                if newest is None or seq > newest[0]:
                    newest = (seq, msg.data)
            pending -= len(messages)
    finally:
        await sub.unsubscribe()
    return CloudEvent.model_validate_json(newest[1]) if newest else None


async def follow(runtime: ServiceRuntime) -> None:
    """Catch up with the current offset and follow its changes (call after the bus connects, before
    it starts). Only in dev mode; a failure to catch up is logged, never fatal."""
    if not follows(runtime):
        return
    clock = runtime.clock
    assert isinstance(clock, Clock)
    service = runtime.settings.service_name
    try:
        event = await latest(runtime)
        if event is not None:
            apply(clock, offset_of(event), service=service)
    except Exception as exc:  # dev convenience: a service must still start
        log.warning("devclock.catch_up_failed", error=str(exc))

    async def on_change(event: CloudEvent) -> None:
        apply(clock, offset_of(event), service=service)

    runtime.bus.subscribe(
        subject(runtime.settings.events_subject_prefix),
        consumer=f"{service}-devclock",
        handler=on_change,
        per_replica=True,
    )
