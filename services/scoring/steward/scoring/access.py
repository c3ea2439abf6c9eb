"""Tenant scope: a principal reads and writes its tenant's subtree, never a sibling's."""

from __future__ import annotations

from steward.kit.auth import Principal, Role
from steward.kit.errors import ValidationFailed
from steward.kit.inputs import ensure_tenant_code
from steward.kit.tenancy import ALL_TENANTS, ensure_visible, ensure_writable
from steward.rules.scoring import RankingDef, ScorecardDef, SurveyDef
from steward.scoring.context import ScoringContext

EVALUATORS = (Role.SUPERVISOR, Role.LEADER, Role.TENANT_ADMIN, Role.PLATFORM_ADMIN)  # manual entries
CORRECTORS = (Role.SUPERVISOR, Role.TENANT_ADMIN, Role.PLATFORM_ADMIN)  # corrections, closing
PUBLISHERS = (Role.TENANT_ADMIN, Role.PLATFORM_ADMIN, Role.SUPERVISOR)  # rankings
FACT_SOURCES = (Role.SERVICE, Role.SUPERVISOR, Role.TENANT_ADMIN, Role.PLATFORM_ADMIN)


async def readable(ctx: ScoringContext, principal: Principal, tenant: str | None) -> tuple[str, str]:
    """(tenant code, materialised path) the caller may read: its own tenant unless narrowed."""
    code = tenant or principal.tenant
    if code == ALL_TENANTS:
        raise ValidationFailed("name the tenant", code="tenant_required")
    ensure_tenant_code(code)
    codes = await ctx.registry.ancestry_codes(code)
    ensure_visible(principal, codes, what="tenant")
    return code, "/".join(codes)


async def writable(ctx: ScoringContext, principal: Principal, tenant: str) -> tuple[str, str]:
    ensure_tenant_code(tenant)
    codes = await ctx.registry.ancestry_codes(tenant)
    ensure_writable(principal, codes)
    return tenant, "/".join(codes)


async def scorecard(ctx: ScoringContext, tenant: str, key: str) -> ScorecardDef:
    card = (await ctx.registry.rules(tenant)).scorecards.definition(key)
    if card is None:
        raise ValidationFailed(f"tenant {tenant} has no scorecard {key!r}", code="unknown_scorecard")
    return card


async def ranking(ctx: ScoringContext, tenant: str, key: str) -> RankingDef:
    found = next((r for r in (await ctx.registry.rules(tenant)).scorecards.rankings if r.key == key), None)
    if found is None:
        raise ValidationFailed(f"tenant {tenant} has no ranking {key!r}", code="unknown_ranking")
    return found


async def survey(ctx: ScoringContext, tenant: str, key: str) -> SurveyDef:
    found = next((s for s in (await ctx.registry.rules(tenant)).scorecards.surveys if s.key == key), None)
    if found is None:
        raise ValidationFailed(f"tenant {tenant} has no survey {key!r}", code="unknown_survey")
    return found
