"""Meetings metrics: topics per compiled agenda, decisions filed and their state as last reported
to a meeting (done / in progress / overdue per tenant), minutes lateness."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

TOPICS_PER_MEETING = Histogram(
    "steward_meetings_topics_per_meeting",
    "Topics compiled onto a meeting's agenda",
    buckets=(0, 1, 2, 5, 10, 20, 50, 100, 200),
)
DEFERRED_TOPICS = Counter(
    "steward_meetings_topics_deferred_total", "Topics moved to a later meeting", ["reason"]
)
DECISIONS_FILED = Counter("steward_meetings_decisions_filed_total", "Decisions filed as tracked matters")
DECISIONS_STATE = Gauge(
    "steward_meetings_decisions",
    "Decisions of the last held meeting by state, as the latest supervision report saw them",
    ["tenant", "state"],
)
MINUTES_LATENESS = Histogram(
    "steward_meetings_minutes_lateness_seconds",
    "Time from the minutes' due time to their issue (0 when on time)",
    buckets=(0, 3600, 86400, 2 * 86400, 5 * 86400, 10 * 86400, 30 * 86400),
)
MINUTES_OVERDUE = Counter("steward_meetings_minutes_overdue_total", "Minutes not issued in time")
