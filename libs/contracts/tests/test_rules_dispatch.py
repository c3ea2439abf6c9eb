from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from steward.rules import (
    ProjectFacts,
    ThresholdsSection,
    default_rules,
    derive_dispatch,
    merge_rules,
    preset_override,
    preset_rules,
)


@pytest.fixture
def fuxin_thresholds() -> ThresholdsSection:
    return preset_rules("fuxin_steward").thresholds


def test_district_registered_2500wan_with_fuxin_rule(fuxin_thresholds: ThresholdsSection) -> None:
    d = derive_dispatch(
        fuxin_thresholds, investment=25_000_000, funding_type="enterprise", tenant_level="district"
    )
    assert d.tier == "district"
    assert d.on_platform
    assert d.steward_required
    assert not d.named_responsibility
    assert any("项目管家" in r for r in d.reasons)


def test_pure_threshold_tier_without_lifting(fuxin_thresholds: ThresholdsSection) -> None:
    d = derive_dispatch(fuxin_thresholds, investment=25_000_000, funding_type="enterprise")
    assert d.tier == "zone"
    no_lift = fuxin_thresholds.model_copy(update={"lift_to_registering_level": False})
    d2 = derive_dispatch(no_lift, investment=25_000_000, funding_type="enterprise", tenant_level="district")
    assert d2.tier == "zone"


def test_120_million_is_city_with_named_responsibility() -> None:
    t = default_rules().thresholds
    for level in ("zone", "district", "city"):
        d = derive_dispatch(t, investment=120_000_000, funding_type="enterprise", tenant_level=level)
        assert d.tier == "city"
        assert d.named_responsibility
        assert not d.steward_required  # Shenyang default: no steward rule


def test_400wan_not_on_platform_even_at_city() -> None:
    t = default_rules().thresholds
    d = derive_dispatch(t, investment=4_000_000, funding_type="enterprise", tenant_level="city")
    assert d.tier == "none"
    assert not d.on_platform
    assert not d.steward_required and not d.named_responsibility


def test_boundaries_are_inclusive() -> None:
    t = default_rules().thresholds
    assert derive_dispatch(t, investment=5_000_000, funding_type="enterprise").tier == "zone"
    assert derive_dispatch(t, investment=29_999_999, funding_type="enterprise").tier == "zone"
    assert derive_dispatch(t, investment=30_000_000, funding_type="enterprise").tier == "district"
    assert derive_dispatch(t, investment=99_999_999, funding_type="enterprise").tier == "district"
    assert derive_dispatch(t, investment=100_000_000, funding_type="enterprise").named_responsibility


def test_government_project_at_city_tenant() -> None:
    t = default_rules().thresholds
    d = derive_dispatch(t, investment=35_000_000, funding_type="government", tenant_level="city")
    assert d.tier == "city"
    assert d.city_department_dispatch
    d2 = derive_dispatch(t, investment=35_000_000, funding_type="government", tenant_level="district")
    assert d2.tier == "district"
    assert not d2.city_department_dispatch
    d3 = derive_dispatch(t, investment=20_000_000, funding_type="government", tenant_level="city")
    assert not d3.city_department_dispatch


def test_tier_applies_to_funding_types() -> None:
    doc = merge_rules(
        default_rules(),
        {
            "thresholds": {
                "dispatch_tiers": [
                    {"tier": "zone", "min_investment": "500万"},
                    {"tier": "district", "min_investment": "3000万", "applies_to": ["enterprise"]},
                    {"tier": "city", "min_investment": "1亿"},
                ]
            }
        },
    )
    d = derive_dispatch(doc.thresholds, investment=50_000_000, funding_type="government")
    assert d.tier == "zone"


def test_tiers_must_be_ordered() -> None:
    with pytest.raises(ValidationError):
        ThresholdsSection.model_validate(
            {"dispatch_tiers": [{"tier": "city", "min_investment": 1}, {"tier": "zone", "min_investment": 0}]}
        )
    with pytest.raises(ValidationError):
        ThresholdsSection.model_validate(
            {
                "dispatch_tiers": [
                    {"tier": "zone", "min_investment": "1亿"},
                    {"tier": "city", "min_investment": 1},
                ]
            }
        )


def test_dispatch_flags_drive_roster() -> None:
    doc = preset_rules("fuxin_steward")
    d = derive_dispatch(
        doc.thresholds, investment=25_000_000, funding_type="enterprise", tenant_level="district"
    )
    facts = ProjectFacts(investment=25_000_000, tier=d.tier, flags=d.flags)
    required = {r.key for r in doc.roster.required_roles(facts)}
    assert {"steward", "leader", "lead_unit", "service_team"} <= required
    assert "secretary" not in required  # only for major projects
    missing = {r.key for r in doc.roster.missing_roles(facts, {"steward": 1, "leader": 1})}
    assert "lead_unit" in missing and "steward" not in missing


def test_shenyang_named_roles_only_from_100_million() -> None:
    doc = default_rules()
    t = doc.thresholds
    small = derive_dispatch(t, investment=50_000_000, funding_type="enterprise")
    big = derive_dispatch(t, investment=150_000_000, funding_type="enterprise")
    small_roles = {
        r.key for r in doc.roster.required_roles(ProjectFacts(investment=50_000_000, flags=small.flags))
    }
    big_roles = {
        r.key for r in doc.roster.required_roles(ProjectFacts(investment=150_000_000, flags=big.flags))
    }
    assert "guarantor_leader" not in small_roles
    assert {"responsible_leader", "guarantor_leader", "specialist", "manager"} <= big_roles
    gov = ProjectFacts(investment=50_000_000, funding_type="government", flags=small.flags)
    assert "liaison" not in {r.key for r in doc.roster.required_roles(gov)}


def test_steward_rule_switched_off_by_null() -> None:
    fuxin = preset_rules("fuxin_steward")
    child = merge_rules(fuxin, {"thresholds": {"steward_required_min": None}})
    assert child.thresholds.steward_required_min is None
    d = derive_dispatch(child.thresholds, investment=25_000_000, funding_type="enterprise")
    assert not d.steward_required
    assert preset_override("fuxin_steward")["thresholds"]["steward_required_min"] == "2000万"


def test_reasons_keep_the_cents() -> None:
    t = default_rules().thresholds
    d = derive_dispatch(t, investment=Decimal("29999999.99"), funding_type="enterprise")
    assert d.tier == "zone"  # below the 3000万 district threshold, cents and all
    assert d.reasons[0].startswith("总投资29999999.99元达到入平台门槛")
    whole = derive_dispatch(t, investment=Decimal("30000000.00"), funding_type="enterprise")
    assert whole.tier == "district" and whole.reasons[0].startswith("总投资3000万达到")
