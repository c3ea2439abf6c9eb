"""Events the scoring service publishes: ledger entries (score.recorded|corrected), closed periods,
published rankings and their consequences, satisfaction surveys, rectifications (整改) and project
warning lights (红黄绿灯). Points are exact decimals carried as strings, never floats."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from steward.events.envelope import EventData


class ScoreRecorded(EventData):
    aggregate: ClassVar[str] = "score"
    event: ClassVar[str] = "recorded"
    summary: ClassVar[str] = (
        "A ledger entry was recorded: by a scorecard rule from an event, or by hand by an evaluator."
    )

    entry_id: str
    scorecard: str
    period: str
    subject_kind: str
    subject_id: str
    dimension: str
    points: str = Field(description="exact decimal points asked for, e.g. '-0.5'")
    rule: str
    reason_zh: str
    source_event: str | None = None
    occurred_at: datetime


class ScoreCorrected(EventData):
    aggregate: ClassVar[str] = "score"
    event: ClassVar[str] = "corrected"
    summary: ClassVar[str] = "An entry was cancelled by an opposite correction entry (with the reason)."

    entry_id: str
    corrects: str
    scorecard: str
    period: str
    subject_kind: str
    subject_id: str
    dimension: str
    points: str
    reason_zh: str


class PeriodClosed(EventData):
    aggregate: ClassVar[str] = "period"
    event: ClassVar[str] = "closed"
    summary: ClassVar[str] = (
        "A scorecard period was closed: its scorecard definition is frozen and its totals recorded."
    )

    scorecard: str
    period: str
    rules_version: str
    subjects: int
    entries: int
    digest: str


class RankingPublished(EventData):
    aggregate: ClassVar[str] = "ranking"
    event: ClassVar[str] = "published"
    summary: ClassVar[str] = "A ranking was published for a period (top N praised, bottom N criticised)."

    ranking_id: str
    ranking: str
    name_zh: str
    period: str
    public: bool
    subjects: int
    top: list[str] = Field(default_factory=list)
    bottom: list[str] = Field(default_factory=list)
    last: list[str] = Field(default_factory=list)


class ConsequenceTriggered(EventData):
    aggregate: ClassVar[str] = "consequence"
    event: ClassVar[str] = "triggered"
    summary: ClassVar[str] = (
        "A consequence was triggered once: praise, public criticism, warning, admonition talk (诫勉谈话), "
        "written self-criticism (书面检查) or referral to the organisation department."
    )

    consequence_id: str
    source: str = Field(description="ranking | survey")
    definition: str
    cause: str
    subject_kind: str
    subject_id: str
    subject_name: str | None = None
    action: str
    streak: int
    reason_zh: str


class SurveySent(EventData):
    aggregate: ClassVar[str] = "survey"
    event: ClassVar[str] = "sent"
    summary: ClassVar[str] = "A satisfaction survey (满意度测评) link was sent to the enterprise contact."

    survey_id: str
    survey: str
    subject_id: str
    contact: str
    project_id: str | None = None
    link: str
    expires_at: datetime


class SurveyAnswered(EventData):
    aggregate: ClassVar[str] = "survey"
    event: ClassVar[str] = "answered"
    summary: ClassVar[str] = (
        "The enterprise answered a survey (once); ``overall`` feeds the agent's scorecard."
    )

    survey_id: str
    survey: str
    subject_id: str
    project_id: str | None = None
    overall: str
    answers: dict[str, str]


class RectificationOpened(EventData):
    aggregate: ClassVar[str] = "rectification"
    event: ClassVar[str] = "opened"
    summary: ClassVar[str] = "A bad rating opened a rectification (整改) with a working-day deadline."

    rectification_id: str
    survey_id: str
    subject_id: str
    due_at: datetime


class RectificationOverdue(EventData):
    aggregate: ClassVar[str] = "rectification"
    event: ClassVar[str] = "overdue"
    summary: ClassVar[str] = "A rectification's working-day deadline passed while it was still open (once)."

    rectification_id: str
    survey_id: str
    subject_id: str
    due_at: datetime


class RectificationClosed(EventData):
    aggregate: ClassVar[str] = "rectification"
    event: ClassVar[str] = "closed"
    summary: ClassVar[str] = (
        "A rectification was closed: confirmed by the enterprise, or by a supervisor with a reason."
    )

    rectification_id: str
    survey_id: str
    subject_id: str
    confirmed_by_enterprise: bool
    closed_by: str
    reason: str | None = None


class ProjectLightChanged(EventData):
    aggregate: ClassVar[str] = "project"
    event: ClassVar[str] = "light_changed"
    summary: ClassVar[str] = "A project's warning light (红黄绿灯) changed, with the reasons."

    project_id: str
    code: str
    from_light: str
    to_light: str
    reasons: list[str]


SCORING_EVENTS: tuple[type[EventData], ...] = (
    ScoreRecorded,
    ScoreCorrected,
    PeriodClosed,
    RankingPublished,
    ConsequenceTriggered,
    SurveySent,
    SurveyAnswered,
    RectificationOpened,
    RectificationOverdue,
    RectificationClosed,
    ProjectLightChanged,
)
