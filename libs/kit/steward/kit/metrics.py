"""Prometheus metrics shared by every service (the service name is a label)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_LATENCY = Histogram(
    "steward_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
GRPC_LATENCY = Histogram(
    "steward_grpc_request_duration_seconds",
    "gRPC call latency (server side)",
    ["service", "method", "code"],
    buckets=LATENCY_BUCKETS,
)
EVENTS_PUBLISHED = Counter(
    "steward_events_published_total", "Events published by the outbox relay", ["service", "type"]
)
EVENTS_PUBLISH_FAILED = Counter(
    "steward_events_publish_failed_total", "Outbox publish attempts that failed", ["service"]
)
EVENTS_CONSUMED = Counter(
    "steward_events_consumed_total",
    "Events handled by consumers (consumer: the durable name, without a per-replica suffix)",
    ["service", "consumer", "outcome"],
)
CONSUMER_PENDING = Gauge(
    "steward_consumer_pending",
    "Events of a shared consumer not yet delivered or not yet acknowledged (read at each readiness check)",
    ["service", "consumer"],
)
OUTBOX_BACKLOG = Gauge("steward_outbox_backlog", "Outbox rows not yet published", ["service"])
OUTBOX_AGE = Gauge(
    "steward_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row", ["service"]
)
TIMERS_FIRED = Counter("steward_timers_fired_total", "Due timers fired", ["service", "kind", "outcome"])
TIMERS_DUE = Gauge("steward_timers_due", "Timers due and not yet fired at the last sweep", ["service"])
CALENDAR_COVERED = Gauge(
    "steward_calendar_year_covered",
    "1 when official holiday data covers the year, 0 when the fallback applies",
    ["year"],
)
DEAD_LETTERS_WAITING = Gauge(
    "steward_dead_letters_waiting",
    "Dead letters waiting for a replay, per consumer (read at each readiness check)",
    ["service", "consumer"],
)
