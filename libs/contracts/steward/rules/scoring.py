"""Section ``scorecards``: scorecard definitions (dimensions + event-driven rules), rankings with
consequences and satisfaction surveys. Points are ``Decimal``; the scoring service keeps a ledger
of entries, each produced by one rule from one event."""

from __future__ import annotations

from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any, Literal

from pydantic import Field, model_validator

from steward.rules.base import Key, KeyLevel, MatterKind, MatterTier, Points, StrictModel

__all__ = [
    "Consequence",
    "Dimension",
    "LightRules",
    "RankingDef",
    "Rating",
    "ScoreCondition",
    "ScoreRule",
    "ScorecardDef",
    "ScorecardsSection",
    "SurveyConsequence",
    "SurveyDef",
    "SurveyItem",
    "SurveyLevel",
]

Rating = Literal["very_satisfied", "satisfied", "fairly_satisfied", "dissatisfied"]  # 现场打分 scale
SurveyLevel = Literal["very_satisfied", "satisfied", "neutral", "dissatisfied", "very_dissatisfied"]
_SURVEY_LEVELS: tuple[SurveyLevel, ...] = (
    "very_satisfied",
    "satisfied",
    "neutral",
    "dissatisfied",
    "very_dissatisfied",
)
_BAD_LEVELS: tuple[SurveyLevel, ...] = ("dissatisfied", "very_dissatisfied")
Action = Literal[
    "praise",  # 通报表扬
    "public_criticism",  # 通报批评
    "warning",  # 警告
    "admonition",  # 诫勉谈话
    "written_self_criticism",  # 书面检查
    "refer_to_organisation_dept",  # 报请组织部门处理
]


class Dimension(StrictModel):
    key: Key
    name_zh: str = Field(min_length=1)
    name_en: str | None = None
    max_points: Points


class ScoreCondition(StrictModel):
    """Attributes the event must carry (all given ones must equal; omitted ones do not restrict)."""

    key_level: KeyLevel | None = None  # 省/市重点项目
    procedure_level: Literal["provincial", "city", "district"] | None = None
    difficulty: Literal["hard", "easy"] | None = None
    rating: Rating | None = None
    agent_level: Literal[1, 2] | None = None
    kind: MatterKind | None = None
    tier: MatterTier | None = None
    category: Key | None = None
    overdue: bool | None = None  # e.g. a procedure completed late (procedure.completed)

    def matches(self, attributes: dict[str, Any]) -> bool:
        for name in type(self).model_fields:
            wanted = getattr(self, name)
            if wanted is not None and attributes.get(name) != wanted:
                return False
        return True


class ScoreRule(StrictModel):
    key: Key
    event_type: str = Field(min_length=1, description="glob on the event type, e.g. 'procedure.*'")
    dimension: Key
    points: Points
    condition: ScoreCondition = Field(default_factory=ScoreCondition)
    subject: Literal["assignee", "responsible_agent", "unit", "district"] = Field(
        "assignee", description="whose score the entry goes to (level-2 agent delay → responsible_agent)"
    )
    subjects_from: Key | None = Field(
        None,
        description="a list field of the event naming several subjects, each scored (e.g. absent_subjects)",
    )
    reason_zh: str = Field(min_length=1)

    def matches(self, event_type: str, attributes: dict[str, Any]) -> bool:
        return fnmatchcase(event_type, self.event_type) and self.condition.matches(attributes)


class ScorecardDef(StrictModel):
    key: Key
    name_zh: str = Field(min_length=1)
    subject_kind: Literal["agent", "unit", "district"]
    period: Literal["month", "quarter", "half_year", "year"] = "quarter"
    dimensions: list[Dimension] = Field(min_length=1)
    rules: list[ScoreRule] = Field(default_factory=list)
    floor_at_zero: bool = Field(True, description="a dimension never goes below 0 (扣完为止)")
    cap_at_max: bool = Field(True, description="bonuses never lift a dimension above its max_points")

    @model_validator(mode="after")
    def _consistent(self) -> ScorecardDef:
        dims = [d.key for d in self.dimensions]
        if len(set(dims)) != len(dims):
            raise ValueError(f"scorecard {self.key!r}: duplicate dimension keys")
        rules = [r.key for r in self.rules]
        if len(set(rules)) != len(rules):
            raise ValueError(f"scorecard {self.key!r}: duplicate rule keys")
        for rule in self.rules:
            if rule.dimension not in dims:
                raise ValueError(
                    f"scorecard {self.key!r}: rule {rule.key!r} uses unknown dimension {rule.dimension!r}"
                )
        return self

    @property
    def total_points(self) -> Decimal:
        return sum((d.max_points for d in self.dimensions), Decimal(0))

    def dimension(self, key: str) -> Dimension | None:
        return next((d for d in self.dimensions if d.key == key), None)

    def rules_for(self, event_type: str, attributes: dict[str, Any]) -> list[ScoreRule]:
        return [r for r in self.rules if r.matches(event_type, attributes)]

    def apply(self, current: Decimal, dimension: str, delta: Decimal) -> Decimal:
        """New value of a dimension after ``delta``, honouring the floor (扣完为止) and the cap."""
        dim = self.dimension(dimension)
        if dim is None:
            raise KeyError(dimension)
        value = current + delta
        if self.floor_at_zero and value < 0:
            value = Decimal(0)
        if self.cap_at_max and value > dim.max_points:
            value = dim.max_points
        return value


class Consequence(StrictModel):
    """``count`` consecutive periods at ``position`` trigger ``actions`` (on the unit's head)."""

    position: Literal["last", "bottom_n", "top_n"] = "last"
    consecutive: int = Field(1, ge=1)
    actions: list[Action] = Field(min_length=1)


class RankingDef(StrictModel):
    key: Key
    name_zh: str = Field(min_length=1)
    subject_kind: Literal["agent", "unit", "district"]
    scorecard: Key | None = Field(
        None, description="scorecard whose totals are ranked; null = indicator data"
    )
    period: Literal["month", "quarter", "half_year", "year"] = "quarter"
    top_n: int = Field(3, ge=0)
    bottom_n: int = Field(3, ge=0)
    public: bool = False
    consequences: list[Consequence] = Field(default_factory=list)


class SurveyItem(StrictModel):
    key: Key
    name_zh: str = Field(min_length=1)


class SurveyConsequence(StrictModel):
    level: SurveyLevel = "very_dissatisfied"
    consecutive: int = Field(1, ge=1)
    actions: list[Action] = Field(min_length=1)


class SurveyDef(StrictModel):
    key: Key
    name_zh: str = Field(min_length=1)
    subject_kind: Literal["agent", "unit"] = "agent"
    trigger_event: str = Field("procedure.handed_over", description="event after which the survey is sent")
    items: list[SurveyItem] = Field(min_length=1)
    levels: list[SurveyLevel] = Field(
        default_factory=lambda: list(_SURVEY_LEVELS),
        min_length=2,
    )
    consequences: list[SurveyConsequence] = Field(default_factory=list)
    rectification_levels: list[SurveyLevel] = Field(
        default_factory=lambda: list(_BAD_LEVELS),
        description="an overall rating at one of these levels opens a rectification (整改)",
    )
    rectification_working_days: int = Field(5, ge=1, le=60, description="rectification deadline")
    link_days: int = Field(30, ge=1, le=365, description="the one-time answer link expires after")

    @model_validator(mode="after")
    def _levels(self) -> SurveyDef:
        if len(set(self.levels)) != len(self.levels):
            raise ValueError(f"survey {self.key!r}: duplicate levels")
        for c in self.consequences:
            if c.level not in self.levels:
                raise ValueError(f"survey {self.key!r}: consequence level {c.level!r} not among levels")
        return self


class LightRules(StrictModel):
    """Project warning lights (红黄绿灯). Investment progress = completed this year / (annual plan ×
    share of the year elapsed); each input gives green, yellow or red, the worst wins. A red project
    turns yellow only once every input is back to green (it caught up), never on one improvement."""

    investment_yellow_below: Points = Field(Decimal("0.9"), description="progress ratio below → yellow")
    investment_red_below: Points = Field(Decimal("0.7"), description="progress ratio below → red")
    delayed_milestones_yellow: int = Field(1, ge=1)
    delayed_milestones_red: int = Field(2, ge=1)
    overdue_matters_yellow: int = Field(1, ge=1)
    overdue_matters_red: int = Field(3, ge=1)
    missing_reports_yellow: int = Field(1, ge=1)
    missing_reports_red: int = Field(2, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> LightRules:
        if self.investment_red_below > self.investment_yellow_below:
            raise ValueError("lights: investment_red_below must not exceed investment_yellow_below")
        for name in ("delayed_milestones", "overdue_matters", "missing_reports"):
            if getattr(self, f"{name}_red") < getattr(self, f"{name}_yellow"):
                raise ValueError(f"lights: {name}_red must not be below {name}_yellow")
        return self


class ScorecardsSection(StrictModel):
    definitions: list[ScorecardDef] = Field(default_factory=list)
    rankings: list[RankingDef] = Field(default_factory=list)
    surveys: list[SurveyDef] = Field(default_factory=list)
    lights: LightRules = Field(default_factory=LightRules)

    @model_validator(mode="after")
    def _refs(self) -> ScorecardsSection:
        for label, keys in (
            ("scorecard", [d.key for d in self.definitions]),
            ("ranking", [r.key for r in self.rankings]),
            ("survey", [s.key for s in self.surveys]),
        ):
            dupes = sorted({k for k in keys if keys.count(k) > 1})
            if dupes:
                raise ValueError(f"duplicate {label} keys {dupes}")
        known = {d.key for d in self.definitions}
        for r in self.rankings:
            if r.scorecard is not None and r.scorecard not in known:
                raise ValueError(f"ranking {r.key!r} refers to unknown scorecard {r.scorecard!r}")
        return self

    def definition(self, key: str) -> ScorecardDef | None:
        return next((d for d in self.definitions if d.key == key), None)
