"""Tokens for a tenant the registry does not know are refused (403 ``unknown_token_tenant``) on every
REST and gRPC path, rather than answered with 404s or empty lists (issue 14, point 5)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlmodel.ext.asyncio.session import AsyncSession

from steward.kit.auth import Principal
from steward.kit.db import Database
from steward.kit.limits import TenantGate
from steward.registry.tenants.models import Tenant

GATE = TenantGate()  # known tenants are remembered for five minutes (tenants are never deleted)


async def ensure_known_tenant(session: AsyncSession, principal: Principal) -> None:
    async def exists(code: str) -> bool:
        return await session.get(Tenant, code) is not None

    await GATE.check(principal, exists)


def http_gate(db: Database) -> Callable[[Principal], Awaitable[None]]:
    """``app.state.tenant_gate`` for the kit's principal dependency."""

    async def check(principal: Principal) -> None:
        async def exists(code: str) -> bool:
            async with db.read() as session:
                return await session.get(Tenant, code) is not None

        await GATE.check(principal, exists)

    return check
