"""Notify's event consumer: the kit's batch subscription (``steward.kit.batches``) on every event
aggregate of the catalogue but notify's own.

Its **subject filter** leaves notify's own ``delivery.*`` events out (one filter per event aggregate
of the catalogue but ``delivery``, ``notify_filter_by_catalogue``): JetStream never delivers them, so
notify spends nothing on them; the subject check stays as a second line. Trade-off: an aggregate the
catalogue does not know is not read; ``STEWARD_NOTIFY_FILTER_BY_CATALOGUE=false`` reads
``<prefix>.>``.
"""

from __future__ import annotations

from collections.abc import Callable

from steward.events.catalog import events_by_type
from steward.kit.batches import BatchHandler, Outcome
from steward.kit.runtime import ServiceRuntime
from steward.notify.settings import NotifySettings

__all__ = ["OWN_AGGREGATES", "Outcome", "filter_subjects", "own_events", "subscribe"]

OWN_AGGREGATES = ("delivery",)  # notify's own events: never notify about notifying


def filter_subjects(prefix: str) -> list[str]:
    """``<prefix>.*.<aggregate>.>`` for every event aggregate of the catalogue except notify's own."""
    aggregates = {m.aggregate for m in events_by_type().values()} - set(OWN_AGGREGATES) - {""}
    return [f"{prefix}.*.{a}.>" for a in sorted(aggregates)]


def own_events(prefix: str) -> Callable[[str], bool]:
    """The subject check behind the filter: ``<prefix>.<tenant>.delivery.*`` are notify's own."""
    depth = prefix.count(".") + 2  # the aggregate's position: prefix parts, then the tenant

    def skip(subject: str) -> bool:
        parts = subject.split(".", depth + 1)
        return len(parts) > depth and parts[depth] in OWN_AGGREGATES

    return skip


def subscribe(runtime: ServiceRuntime, settings: NotifySettings, handler: BatchHandler) -> None:
    prefix = settings.events_subject_prefix
    runtime.add_batch_subscription(
        filter_subjects(prefix) if settings.notify_filter_by_catalogue else [f"{prefix}.>"],
        consumer=settings.notify_consumer,
        handler=handler,
        fetch_batch=settings.notify_fetch_batch,
        ack_wait=settings.notify_ack_wait_seconds,
        skip=own_events(prefix),
    )
