"""Scoring metrics (Prometheus)."""

from __future__ import annotations

from prometheus_client import Counter

ENTRIES = Counter("steward_scoring_entries_total", "Ledger entries recorded", ["source"])
EVENTS = Counter("steward_scoring_events_total", "Events the scoring consumer handled", ["outcome"])
CONSEQUENCES = Counter("steward_scoring_consequences_total", "Consequences triggered", ["source", "action"])
LIGHT_CHANGES = Counter("steward_scoring_light_changes_total", "Project warning light changes", ["to"])
