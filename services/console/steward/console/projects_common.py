"""Look-ups several pages share."""

from __future__ import annotations

from typing import Any

from steward.console.api import Api


async def tenants_of(api: Api) -> list[dict[str, Any]]:
    """The tenants the user may see (their subtree), root first."""
    return list((await api.maybe("registry", "/v1/tenants", None) or {}).get("items", []))
