"""Who may do what, and where: tenant-subtree scope (a district never sees a sibling's meetings),
the organiser roles (发改局重点项目办), the chair, and the roles that sign topics off.

Sign-offs (议题须经单位主要领导和分管县级领导签字): ``unit_head`` is signed by a ``leader`` of the
submitting unit (the token's ``unit`` claim equals the topic's unit), ``leader_in_charge`` by a
``leader`` who is not of that unit (the county-level leader in charge); one person never gives both.
"""

from __future__ import annotations

from collections.abc import Sequence

from steward.kit.auth import Principal, Role
from steward.kit.errors import Forbidden, NotFound
from steward.kit.inputs import ensure_tenant_code
from steward.kit.tenancy import ALL_TENANTS, ancestry_of, in_subtree
from steward.meetings.context import MeetingsContext

ORGANIZER_ROLES = (Role.PLATFORM_ADMIN, Role.TENANT_ADMIN, Role.DISPATCHER)
READER_ROLES = (
    *ORGANIZER_ROLES,
    Role.LEADER,
    Role.SUPERVISOR,
    Role.SPECIALIST,
    Role.LIAISON,
    Role.STEWARD,
    Role.AGENT,
    Role.AUDITOR,
    Role.SERVICE,
)
SUBMITTER_ROLES = (*ORGANIZER_ROLES, Role.LEADER, Role.SPECIALIST, Role.LIAISON, Role.STEWARD, Role.AGENT)


def visible(principal: Principal, tenant_path: str) -> bool:
    return in_subtree(principal.tenant, ancestry_of(tenant_path))


def ensure_visible(principal: Principal, tenant_path: str, what: str) -> None:
    """Outside the caller's subtree a row does not exist (nothing about it leaks)."""
    if not visible(principal, tenant_path) or not principal.has(*READER_ROLES):
        raise NotFound(f"{what} not found")


def ensure_organizer(principal: Principal) -> None:
    if not principal.has(*ORGANIZER_ROLES):
        raise Forbidden("only the organiser (重点项目办) may do this", code="organizer_required")


def ensure_submitter(principal: Principal) -> None:
    if not principal.has(*SUBMITTER_ROLES):
        raise Forbidden("your roles may not submit topics", code="role_required")


async def tenant_path(ctx: MeetingsContext, principal: Principal, tenant: str, *, write: bool) -> str:
    """The materialised path of ``tenant`` if the caller may act there (404/403 otherwise)."""
    ensure_tenant_code(tenant)
    codes = await ctx.registry.ancestry_codes(tenant)
    if not in_subtree(principal.tenant, codes):
        if write:
            raise Forbidden("tenant is outside your scope", code="tenant_out_of_scope")
        raise NotFound("tenant not found")
    return "/".join(codes)


async def base_path(ctx: MeetingsContext, principal: Principal, tenant: str | None) -> str | None:
    """Subtree root to list: the caller's tenant unless narrowed (``None`` = every tenant)."""
    code = tenant or principal.tenant
    if code == ALL_TENANTS:
        return None
    return await tenant_path(ctx, principal, code, write=False)


def signoff_allowed(principal: Principal, role: str, unit_id: str | None) -> bool:
    if not principal.has(Role.LEADER):
        return False
    same_unit = unit_id is not None and principal.unit == unit_id
    if role == "unit_head":
        return unit_id is None or same_unit
    return not same_unit


def subjects(items: Sequence[dict[str, str | None]]) -> list[str]:
    return sorted({str(i["subject"]) for i in items if i.get("subject")})
