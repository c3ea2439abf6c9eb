"""Shared building blocks of the rules document: strict base model, enums, time-of-day, points,
fractions and the ``applies_when`` condition used by several sections."""

from __future__ import annotations

from collections.abc import Collection
from datetime import time
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, WithJsonSchema

from steward.rules.money import Yuan

__all__ = [
    "CANONICAL_DISPATCH_ORDER",
    "CANONICAL_MATTER_TIER_ORDER",
    "Applicability",
    "DispatchFlag",
    "DispatchTierName",
    "FundingType",
    "Key",
    "KeyLevel",
    "MatterKind",
    "MatterTier",
    "Points",
    "ProjectFacts",
    "Ratio",
    "Stage",
    "StrictModel",
    "TenantLevel",
    "TimeOfDay",
    "Weekday",
]


class StrictModel(BaseModel):
    """Base of every rules model: unknown keys are rejected (typos get an error with their path)."""

    model_config = ConfigDict(extra="forbid", validate_default=True, str_strip_whitespace=True)


# --- enumerations (values are stable API; Chinese names in comments) --------------------------------
FundingType = Literal["enterprise", "government", "ppp"]  # 企业投资 / 政府投资 / PPP
DispatchTierName = Literal["zone", "district", "city"]  # 开发区·乡镇·街道 / 区县 / 市发改委
TenantLevel = Literal["zone", "district", "city"]  # township / street / development zone are "zone"
KeyLevel = Literal["national", "provincial", "city", "district", "none"]  # 重点项目级别
Stage = Literal[
    "negotiating",  # 招商洽谈
    "signed",  # 签约
    "preparing",  # 前期
    "new_start",  # 新开工
    "continuing",  # 续建
    "completed",  # 竣工
    "operating",  # 投产
    "suspended",  # 停缓建
    "terminated",  # 终止
]
MatterKind = Literal["obstacle", "procedure", "decision", "complaint"]
MatterTier = Literal["unit", "district", "city", "government"]
DispatchFlag = Literal["on_platform", "steward_required", "named_responsibility"]

CANONICAL_DISPATCH_ORDER: tuple[DispatchTierName, ...] = ("zone", "district", "city")
CANONICAL_MATTER_TIER_ORDER: tuple[MatterTier, ...] = ("unit", "district", "city", "government")

Key = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
"""Machine key: lower-case snake case (``lead_unit``, ``semi_monthly_progress``)."""

Weekday = Annotated[int, Field(ge=0, le=6, description="Python weekday: Monday=0 … Friday=4, Saturday=5")]


# --- time of day ------------------------------------------------------------------------------------
def _parse_time_of_day(value: Any) -> Any:
    """Accept ``"18:00"``, ``time(18, 0)`` and YAML 1.1 sexagesimal ints.

    PyYAML reads an unquoted ``18:00`` as the integer 1080 (base-60); ints are therefore read as
    minutes since midnight, so ``due_time: 18:00`` in a YAML file means 18:00 as the author intended.
    """
    if isinstance(value, bool):
        raise ValueError("time of day must look like 'HH:MM'")
    if isinstance(value, int):
        if not 0 <= value < 24 * 60:
            raise ValueError("time of day as an integer means minutes since midnight (0..1439)")
        return time(value // 60, value % 60)
    if isinstance(value, str):
        parts = value.strip().split(":")
        if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
            raise ValueError("time of day must look like 'HH:MM'")
        hour, minute = int(parts[0]), int(parts[1])
        second = int(parts[2]) if len(parts) == 3 else 0
        if not (0 <= hour < 24 and 0 <= minute < 60 and 0 <= second < 60):
            raise ValueError("time of day out of range")
        return time(hour, minute, second)
    return value


TimeOfDay = Annotated[
    time,
    BeforeValidator(_parse_time_of_day),
    PlainSerializer(
        lambda t: t.strftime("%H:%M") if t.second == 0 else t.strftime("%H:%M:%S"), return_type=str
    ),
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,2}:\d{2}(:\d{2})?$"}, mode="validation"),
]


# --- points (Decimal, never float) ---------------------------------------------------------------
def _parse_points(value: Any) -> Decimal:
    """Scores are Decimal. Strings ("-0.5") and ints are exact; a float from YAML is converted through
    its shortest repr (``-0.5`` → ``Decimal("-0.5")``), never through binary float arithmetic."""
    if isinstance(value, bool):
        raise ValueError("points must be a decimal number such as '-0.5'")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"points must be a decimal number such as '-0.5', got {value!r}") from None
    else:
        raise ValueError(f"points must be a decimal number such as '-0.5', got {value!r}")
    if not result.is_finite():
        raise ValueError("points must be finite")
    exponent = result.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -4:
        raise ValueError("points have at most 4 decimal places")
    return result


Points = Annotated[
    Decimal,
    BeforeValidator(_parse_points),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^[+-]?\d+(\.\d{1,4})?$"}, mode="validation"),
]


# --- exact ratios -------------------------------------------------------------------------------------
def _parse_ratio(value: Any) -> Fraction:
    if isinstance(value, (bool, float)):
        raise ValueError("ratios are exact fractions: write '2/3', not a float")
    if isinstance(value, Fraction):
        result = value
    elif isinstance(value, int):
        result = Fraction(value)
    elif isinstance(value, str):
        try:
            result = Fraction(value.strip())
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"ratio must look like '2/3', got {value!r}") from None
    else:
        raise ValueError(f"ratio must look like '2/3', got {value!r}")
    if not 0 < result <= 1:
        raise ValueError("ratio must be in (0, 1]")
    return result


Ratio = Annotated[
    Fraction,
    BeforeValidator(_parse_ratio),
    PlainSerializer(lambda f: str(f), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(/\d+)?$"}, mode="validation"),
]


# --- applies_when -------------------------------------------------------------------------------------
class ProjectFacts(StrictModel):
    """What a condition is evaluated against (supplied by the registry for one project)."""

    investment: Yuan = 0
    funding_type: FundingType = "enterprise"
    tier: DispatchTierName | Literal["none"] = "none"
    key_level: KeyLevel = "none"
    stage: Stage = "negotiating"
    major: bool = False  # 重大项目 flag (e.g. Fuxin's project secretary "for major projects")
    flags: set[DispatchFlag] = Field(default_factory=set)
    milestones: set[str] = Field(default_factory=set)  # reached milestones, e.g. "land_contract_signed"


class Applicability(StrictModel):
    """Condition under which a role / schedule / rule applies. Every given criterion must hold
    (logical AND); an omitted criterion does not restrict. An empty condition always applies."""

    min_investment: Yuan | None = None
    max_investment: Yuan | None = Field(None, description="exclusive upper bound")
    funding_types: list[FundingType] | None = None
    tiers: list[DispatchTierName] | None = None
    key_levels: list[KeyLevel] | None = None
    stages: list[Stage] | None = None
    major_only: bool = False
    requires_flags: list[DispatchFlag] = Field(
        default_factory=list,
        description="dispatch flags that must be set (e.g. 'steward_required' follows thresholds)",
    )
    from_milestone: Key | None = Field(
        None, description="applies once this milestone is reached (Jinniu: land_contract_signed)"
    )

    def matches(self, facts: ProjectFacts) -> bool:
        def within(value: str, allowed: Collection[str] | None) -> bool:
            return allowed is None or value in allowed

        return (
            (self.min_investment is None or facts.investment >= self.min_investment)
            and (self.max_investment is None or facts.investment < self.max_investment)
            and within(facts.funding_type, self.funding_types)
            and within(facts.tier, self.tiers)
            and within(facts.key_level, self.key_levels)
            and within(facts.stage, self.stages)
            and (facts.major or not self.major_only)
            and all(flag in facts.flags for flag in self.requires_flags)
            and (self.from_milestone is None or self.from_milestone in facts.milestones)
        )
