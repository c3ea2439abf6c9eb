"""Section ``thresholds``: platform entry, tiered dispatch and responsibility thresholds (Shenyang
沈政发〔2018〕7号, Fuxin 阜蒙政办发〔2019〕36号), and :func:`derive_dispatch`."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from steward.rules.base import (
    CANONICAL_DISPATCH_ORDER,
    DispatchTierName,
    FundingType,
    StrictModel,
    TenantLevel,
)
from steward.rules.money import Yuan, format_yuan

__all__ = ["Dispatch", "DispatchTier", "ThresholdsSection", "derive_dispatch"]

ALL_FUNDING: list[FundingType] = ["enterprise", "government", "ppp"]


class DispatchTier(StrictModel):
    """One row of the tiered dispatch table: projects of these funding types with at least
    ``min_investment`` are dispatched (调度管理) at ``tier``."""

    tier: DispatchTierName
    min_investment: Yuan
    applies_to: list[FundingType] = Field(default_factory=lambda: list(ALL_FUNDING), min_length=1)


def _default_tiers() -> list[DispatchTier]:
    return [
        DispatchTier(tier="zone", min_investment=5_000_000),  # 开发区/街道/乡镇 500万以上
        DispatchTier(tier="district", min_investment=30_000_000),  # 区、县(市) 3000万以上
        DispatchTier(tier="city", min_investment=100_000_000),  # 市发改委 亿元以上
    ]


class ThresholdsSection(StrictModel):
    platform_min: Yuan = Field(5_000_000, description="on the platform from (Shenyang: 500万)")
    dispatch_tiers: list[DispatchTier] = Field(default_factory=_default_tiers, min_length=1)
    government_city_department_min: Yuan | None = Field(
        30_000_000, description="city departments dispatch city-level government projects from (3000万)"
    )
    steward_required_min: Yuan | None = Field(
        None, description="every project from this amount needs a 项目管家 (Fuxin: 2000万); null = never"
    )
    named_responsibility_min: Yuan | None = Field(
        100_000_000, description="实名责任制 + 包保领导 from (Shenyang: 1亿); null = never"
    )
    lift_to_registering_level: bool = Field(
        True, description="a project registered at a district/city tenant is dispatched at least there"
    )

    @model_validator(mode="after")
    def _check_tiers(self) -> ThresholdsSection:
        seen: set[str] = set()
        for row in self.dispatch_tiers:
            key = row.tier
            if key in seen:
                raise ValueError(f"dispatch_tiers: tier {key!r} listed twice")
            seen.add(key)
        order = [CANONICAL_DISPATCH_ORDER.index(r.tier) for r in self.dispatch_tiers]
        if order != sorted(order):
            raise ValueError("dispatch_tiers must be ordered zone → district → city")
        amounts = [r.min_investment for r in self.dispatch_tiers]
        if amounts != sorted(amounts):
            raise ValueError("dispatch_tiers: min_investment must not decrease from lower to higher tier")
        return self


class Dispatch(StrictModel):
    tier: DispatchTierName | Literal["none"]
    on_platform: bool
    steward_required: bool
    named_responsibility: bool
    city_department_dispatch: bool = False
    reasons: list[str] = Field(default_factory=list)

    @property
    def flags(self) -> set[Literal["on_platform", "steward_required", "named_responsibility"]]:
        """The dispatch flags in the form :class:`~steward.rules.base.ProjectFacts` expects."""
        out: set[Literal["on_platform", "steward_required", "named_responsibility"]] = set()
        if self.on_platform:
            out.add("on_platform")
        if self.steward_required:
            out.add("steward_required")
        if self.named_responsibility:
            out.add("named_responsibility")
        return out


def derive_dispatch(
    thresholds: ThresholdsSection,
    *,
    investment: int | Decimal,
    funding_type: str,
    tenant_level: TenantLevel = "zone",
) -> Dispatch:
    """Derive how a project is dispatched from its total investment (元, cents kept in the reasons)
    and funding type.

    1. Below ``platform_min`` the project is not on the platform: tier ``"none"``.
    2. Otherwise the threshold tier is the highest row of ``dispatch_tiers`` whose minimum is met and
       whose ``applies_to`` contains the funding type.
    3. **Tenant-level lifting (decision):** when ``lift_to_registering_level`` is true (default), an
       on-platform project registered at a district tenant is dispatched at least at district level,
       and one registered at a city tenant at city level: ``tier = max(threshold tier, tenant_level)``.
       The seeds give the amounts at which a level *must* dispatch, not a ceiling; a district that
       registers a 2500万 project itself owns its dispatch, so treating it as zone-dispatched would
       leave it with no zone to dispatch it. Tiers are never lowered, and a project below
       ``platform_min`` is never lifted onto the platform. Set the flag false to use pure thresholds.
    4. ``government_city_department_min``: a government-funded project at least this large registered
       by a city tenant (a city department) is marked ``city_department_dispatch``.
    5. ``steward_required`` / ``named_responsibility`` follow their thresholds (null = never), whether
       or not the project is on the platform.

    ``reasons`` lists, in Chinese and with amounts, why each conclusion holds.
    """
    if investment < 0:
        raise ValueError("investment must not be negative")
    reasons: list[str] = []
    whole = int(investment)
    amount = format_yuan(whole) if investment == whole else f"{Decimal(investment):.2f}元"
    on_platform = investment >= thresholds.platform_min
    tier: DispatchTierName | Literal["none"] = "none"
    if not on_platform:
        reasons.append(f"总投资{amount}低于入平台门槛{format_yuan(thresholds.platform_min)}，不纳入平台调度")
    else:
        reasons.append(f"总投资{amount}达到入平台门槛{format_yuan(thresholds.platform_min)}")
        for row in thresholds.dispatch_tiers:
            if investment >= row.min_investment and funding_type in row.applies_to:
                tier = row.tier
        if tier != "none":
            row_min = next(r.min_investment for r in thresholds.dispatch_tiers if r.tier == tier)
            reasons.append(f"按门槛由{_TIER_ZH[tier]}调度（{format_yuan(row_min)}以上）")
        if thresholds.lift_to_registering_level:
            current = -1 if tier == "none" else CANONICAL_DISPATCH_ORDER.index(tier)
            if CANONICAL_DISPATCH_ORDER.index(tenant_level) > current:
                tier = tenant_level
                reasons.append(f"项目由{_TIER_ZH[tenant_level]}登记，至少由{_TIER_ZH[tenant_level]}调度")
    city_department = (
        on_platform
        and tenant_level == "city"
        and funding_type == "government"
        and thresholds.government_city_department_min is not None
        and investment >= thresholds.government_city_department_min
    )
    if city_department:
        reasons.append(
            f"市本级政府投资项目{format_yuan(thresholds.government_city_department_min or 0)}以上，"
            "由市直项目建设管理部门调度"
        )
    steward = thresholds.steward_required_min is not None and investment >= thresholds.steward_required_min
    if steward:
        reasons.append(f"总投资{format_yuan(thresholds.steward_required_min or 0)}及以上，须配备项目管家")
    named = (
        thresholds.named_responsibility_min is not None and investment >= thresholds.named_responsibility_min
    )
    if named:
        reasons.append(
            f"总投资{format_yuan(thresholds.named_responsibility_min or 0)}以上，实行项目实名责任制和包保服务"
        )
    return Dispatch(
        tier=tier,
        on_platform=on_platform,
        steward_required=steward,
        named_responsibility=named,
        city_department_dispatch=city_department,
        reasons=reasons,
    )


_TIER_ZH: dict[str, str] = {
    "zone": "开发区（园区、街道、乡镇）",
    "district": "区县（市）",
    "city": "市发展改革委",
}
