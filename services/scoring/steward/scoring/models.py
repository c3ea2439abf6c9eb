"""Every table of the scoring service (imported so SQLModel's metadata knows them all, e.g. for Alembic)."""

from steward.kit.audit import AuditEntry
from steward.kit.dedup import ConsumedEvent
from steward.kit.outbox import OutboxEvent
from steward.kit.timers import DueTimer
from steward.scoring.ledger.models import ScoreEntry
from steward.scoring.lights.models import LightChange, ProjectLight
from steward.scoring.periods.models import ClosedPeriod
from steward.scoring.rankings.models import (
    Consequence,
    IndicatorValue,
    PublishedRanking,
    RankingExemption,
    RankingMember,
)
from steward.scoring.rules.models import MatterPeople
from steward.scoring.surveys.models import Rectification, Survey

__all__ = [
    "AuditEntry",
    "ClosedPeriod",
    "Consequence",
    "ConsumedEvent",
    "DueTimer",
    "IndicatorValue",
    "LightChange",
    "MatterPeople",
    "OutboxEvent",
    "ProjectLight",
    "PublishedRanking",
    "RankingExemption",
    "RankingMember",
    "Rectification",
    "ScoreEntry",
    "Survey",
]
