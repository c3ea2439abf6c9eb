"""Who may do what in notify (roles from the token; tenant subtree checks through the registry)."""

from __future__ import annotations

from steward.kit.auth import Principal, Role
from steward.kit.errors import Forbidden
from steward.kit.registry_client import RegistryClient
from steward.kit.tenancy import ensure_visible, ensure_writable

ADMINS = (Role.PLATFORM_ADMIN, Role.TENANT_ADMIN, Role.SERVICE)
READERS = (*ADMINS, Role.SUPERVISOR, Role.AUDITOR)


def require_admin(principal: Principal) -> None:
    if not principal.has(*ADMINS):
        raise Forbidden("requires tenant_admin or platform_admin", code="role_required")


async def ensure_tenant_writable(registry: RegistryClient, principal: Principal, tenant: str) -> list[str]:
    ancestry = await registry.ancestry_codes(tenant)
    ensure_writable(principal, ancestry)
    return ancestry


async def ensure_tenant_visible(registry: RegistryClient, principal: Principal, tenant: str) -> list[str]:
    ancestry = await registry.ancestry_codes(tenant)
    ensure_visible(principal, ancestry, what="tenant")
    return ancestry
