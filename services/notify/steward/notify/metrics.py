"""Notify's Prometheus metrics (the kit's shared ones cover HTTP, events, outbox, timers)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DELIVERIES = Counter(
    "steward_notify_deliveries_total",
    "Delivery outcomes by channel (sent, retry, dead_lettered, skipped, held, deferred)",
    ["channel", "outcome"],
)
RETRY_BACKLOG = Gauge(
    "steward_notify_retry_backlog", "Deliveries waiting for a retry (attempted at least once)", ["channel"]
)
PENDING = Gauge("steward_notify_pending", "Deliveries pending or being sent", ["channel"])
DEAD_LETTERED = Gauge("steward_notify_dead_lettered", "Dead-lettered deliveries", ["channel"])
LATENCY = Histogram(
    "steward_notify_delivery_latency_seconds",
    "From the causing event's time to the channel accepting the message",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0, 43200.0),
)
UNRESOLVED = Counter(
    "steward_notify_unresolved_recipients_total",
    "Route recipient names that resolved to nobody",
    ["event_type", "recipient"],
)
UNROUTABLE = Counter(
    "steward_notify_unroutable_events_total",
    "Events skipped because the registry does not know their tenant or project",
    ["type"],
)
