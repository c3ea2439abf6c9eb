"""Who may do what in notify (roles from the token; tenant subtree checks through the registry)."""

from __future__ import annotations

import re

from steward.kit.auth import Principal, Role
from steward.kit.errors import Forbidden, ValidationFailed
from steward.kit.registry_client import RegistryClient
from steward.kit.tenancy import ensure_visible, ensure_writable

ADMINS = (Role.PLATFORM_ADMIN, Role.TENANT_ADMIN, Role.SERVICE)
READERS = (*ADMINS, Role.SUPERVISOR, Role.AUDITOR)
TENANT_CODE = re.compile(r"^\d{6}(\d{3}(\d{3})?)?$")  # the registry's: 6, 9 or 12 digits


def check_tenant_code(tenant: str) -> str:
    """Refuse what cannot be a tenant code before asking the registry about it."""
    if not TENANT_CODE.fullmatch(tenant):
        raise ValidationFailed(
            "tenant must be an administrative division code (6, 9 or 12 digits)", code="invalid_tenant"
        )
    return tenant


def require_admin(principal: Principal) -> None:
    if not principal.has(*ADMINS):
        raise Forbidden("requires tenant_admin or platform_admin", code="role_required")


async def ensure_tenant_writable(registry: RegistryClient, principal: Principal, tenant: str) -> list[str]:
    ancestry = await registry.ancestry_codes(check_tenant_code(tenant))
    ensure_writable(principal, ancestry)
    return ancestry


async def ensure_tenant_visible(registry: RegistryClient, principal: Principal, tenant: str) -> list[str]:
    ancestry = await registry.ancestry_codes(check_tenant_code(tenant))
    ensure_visible(principal, ancestry, what="tenant")
    return ancestry
