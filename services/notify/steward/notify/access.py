"""Who may do what in notify (roles from the token; tenant subtree checks through the registry)."""

from __future__ import annotations

from steward.kit.auth import Principal, Role
from steward.kit.clients.registry import RegistryClient
from steward.kit.errors import Forbidden, NotFound, ValidationFailed
from steward.kit.inputs import is_tenant_code
from steward.kit.tenancy import ALL_TENANTS, PATH_SEP, ensure_visible, ensure_writable

ADMINS = (Role.PLATFORM_ADMIN, Role.TENANT_ADMIN, Role.SERVICE)
READERS = (*ADMINS, Role.SUPERVISOR, Role.AUDITOR)


def check_tenant_code(tenant: str) -> str:
    """Refuse what cannot be a tenant code before asking the registry about it."""
    if not is_tenant_code(tenant):
        raise ValidationFailed(
            "tenant must be an administrative division code (6, 9 or 12 digits)", code="invalid_tenant"
        )
    return tenant


async def subtree_path(registry: RegistryClient, tenant: str) -> str | None:
    """The materialised path of ``tenant`` (the root of a principal's subtree) for
    :func:`steward.kit.paging.scoped`; ``None`` for service principals (every tenant).
    ``NotFound`` for a tenant the registry does not know."""
    if tenant == ALL_TENANTS:
        return None
    if not is_tenant_code(tenant):
        raise NotFound("tenant not found")
    return PATH_SEP.join(await registry.ancestry_codes(tenant))


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
