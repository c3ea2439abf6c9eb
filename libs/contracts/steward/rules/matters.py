"""Section ``matters``: obstacle taxonomy, deadlines (SLA) per kind × tier, reminders, escalation
chain and the approval-procedure catalogue with green channel and one-time notice."""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

from pydantic import Field, model_validator

from steward.rules.base import (
    CANONICAL_MATTER_TIER_ORDER,
    Key,
    MatterKind,
    MatterTier,
    Ratio,
    StrictModel,
)
from steward.rules.catalogue import DEFAULT_PROCEDURES, DEFAULT_TAXONOMY

__all__ = [
    "EscalationPolicy",
    "MatterCategory",
    "MatterSubItem",
    "MattersSection",
    "ProcedureSpec",
    "ReminderPolicy",
    "SlaTable",
    "TierDays",
    "TierDaysOverride",
    "green_channel_days",
]

WorkingDays = int


class TierDays(StrictModel):
    """Working days allowed at each tier."""

    unit: WorkingDays = Field(5, ge=1)
    district: WorkingDays = Field(10, ge=1)
    city: WorkingDays = Field(15, ge=1)
    government: WorkingDays = Field(20, ge=1)

    def for_tier(self, tier: MatterTier) -> int:
        return int(getattr(self, tier))


class TierDaysOverride(StrictModel):
    unit: WorkingDays | None = Field(None, ge=1)
    district: WorkingDays | None = Field(None, ge=1)
    city: WorkingDays | None = Field(None, ge=1)
    government: WorkingDays | None = Field(None, ge=1)


class SlaTable(StrictModel):
    """Deadline in working days for a matter of each kind handled at each tier."""

    obstacle: TierDays = Field(default_factory=TierDays)
    procedure: TierDays = Field(
        default_factory=lambda: TierDays(unit=10, district=15, city=20, government=30)
    )
    decision: TierDays = Field(default_factory=lambda: TierDays(unit=5, district=7, city=10, government=15))
    complaint: TierDays = Field(default_factory=lambda: TierDays(unit=3, district=5, city=7, government=10))


class MatterSubItem(StrictModel):
    code: Key
    name_zh: str = Field(min_length=1)


class MatterCategory(StrictModel):
    code: Key
    name_zh: str = Field(min_length=1)
    name_en: str | None = None
    default_tier: MatterTier = "unit"
    items: list[MatterSubItem] = Field(default_factory=list)
    sla_days: TierDaysOverride | None = Field(None, description="obstacle SLA override for this category")


class ReminderPolicy(StrictModel):
    before_working_days: list[int] = Field(
        default_factory=lambda: [2], description="催办 N working days before"
    )
    on_due_day: bool = True
    overdue_every_working_days: int | None = Field(1, ge=1, description="repeat while overdue; null = once")

    @model_validator(mode="after")
    def _positive(self) -> ReminderPolicy:
        if any(n < 1 for n in self.before_working_days):
            raise ValueError("before_working_days must be ≥ 1 (use on_due_day for the day itself)")
        return self


class EscalationPolicy(StrictModel):
    chain: list[MatterTier] = Field(default_factory=lambda: list(CANONICAL_MATTER_TIER_ORDER), min_length=1)
    auto_escalate_after_overdue_days: int | None = Field(
        2, ge=0, description="working days overdue before moving one tier up; null = manual only"
    )
    reset_deadline_on_escalation: bool = Field(True, description="the new tier gets its own SLA from then")

    @model_validator(mode="after")
    def _ordered(self) -> EscalationPolicy:
        idx = [CANONICAL_MATTER_TIER_ORDER.index(t) for t in self.chain]
        if idx != sorted(set(idx)):
            raise ValueError(
                "escalation.chain must go upwards unit → district → city → government, no repeats"
            )
        return self

    def next_tier(self, tier: MatterTier) -> MatterTier | None:
        """The tier one step up the chain, or None at the top (or when ``tier`` is not in the chain:
        the next chain tier above it)."""
        pos = CANONICAL_MATTER_TIER_ORDER.index(tier)
        return next((t for t in self.chain if CANONICAL_MATTER_TIER_ORDER.index(t) > pos), None)


class ProcedureSpec(StrictModel):
    code: Key
    name_zh: str = Field(min_length=1)
    department: str = Field(min_length=1)
    level: Literal["provincial", "city", "district"]
    difficulty: Literal["hard", "easy"]
    promised_days: int = Field(ge=1, description="promised time limit in working days (承诺时限)")


def _default_taxonomy() -> list[MatterCategory]:
    return [
        MatterCategory(
            code=code,
            name_zh=zh,
            name_en=en,
            default_tier=tier,  # type: ignore[arg-type]
            items=[MatterSubItem(code=c, name_zh=n) for c, n in items],
        )
        for code, zh, en, tier, items in DEFAULT_TAXONOMY
    ]


def _default_procedures() -> list[ProcedureSpec]:
    return [
        ProcedureSpec(code=c, name_zh=n, department=d, level=lv, difficulty=df, promised_days=days)  # type: ignore[arg-type]
        for c, n, d, lv, df, days in DEFAULT_PROCEDURES
    ]


class MattersSection(StrictModel):
    taxonomy_note: str = "默认分类（可配置），非官方“8大类45小项”清单"
    taxonomy: list[MatterCategory] = Field(default_factory=_default_taxonomy)
    sla: SlaTable = Field(default_factory=SlaTable)
    difficult_answer_days: int = Field(3, ge=1, description="疑难事宜 answered within N working days (Huiji)")
    reminders: ReminderPolicy = Field(default_factory=ReminderPolicy)
    escalation: EscalationPolicy = Field(default_factory=EscalationPolicy)
    procedures: list[ProcedureSpec] = Field(default_factory=_default_procedures)
    green_channel_factor: Ratio = Field(
        Fraction(2, 3),
        description="green channel promised days = ceil(promised_days × factor) (one third shorter)",
    )
    materials_notice_days: int = Field(
        1, ge=1, description="一次性告知 of all corrections within N working days"
    )
    handover_required: bool = Field(
        True, description="all procedures done → handover (移交) to the enterprise"
    )
    survey_after_handover: bool = True
    feedback_by_reporter: bool = Field(
        True, description="the reporter confirms or reopens a resolved obstacle"
    )

    @model_validator(mode="after")
    def _unique_codes(self) -> MattersSection:
        cats = [c.code for c in self.taxonomy]
        subs = [i.code for c in self.taxonomy for i in c.items]
        procs = [p.code for p in self.procedures]
        for label, codes in (("taxonomy category", cats), ("taxonomy item", subs), ("procedure", procs)):
            dupes = sorted({c for c in codes if codes.count(c) > 1})
            if dupes:
                raise ValueError(f"duplicate {label} codes {dupes}")
        return self

    def category(self, code: str) -> MatterCategory | None:
        return next((c for c in self.taxonomy if c.code == code), None)

    def procedure(self, code: str) -> ProcedureSpec | None:
        return next((p for p in self.procedures if p.code == code), None)

    def sla_days(self, kind: MatterKind, tier: MatterTier, *, category: str | None = None) -> int:
        """Working days for a matter; an obstacle's category may override its tier's days."""
        if kind == "obstacle" and category is not None:
            cat = self.category(category)
            if cat is not None and cat.sla_days is not None:
                override = getattr(cat.sla_days, tier)
                if override is not None:
                    return int(override)
        table: TierDays = getattr(self.sla, kind)
        return table.for_tier(tier)

    def promised_days(self, code: str, *, green_channel: bool = False) -> int:
        """Promised working days for procedure ``code``.

        Green channel: ``ceil(promised_days × green_channel_factor)``, at least 1. Rounding is upwards
        (exact fraction arithmetic) so the promise is always a whole working day and never cut by more
        than the configured share: 20 days × 2/3 = 13⅓ → 14; 1 day → 1.
        """
        spec = self.procedure(code)
        if spec is None:
            raise KeyError(f"unknown procedure {code!r}")
        return (
            green_channel_days(spec.promised_days, self.green_channel_factor)
            if green_channel
            else spec.promised_days
        )


def green_channel_days(days: int, factor: Fraction) -> int:
    value = Fraction(days) * factor
    return max(1, -(-value.numerator // value.denominator))
