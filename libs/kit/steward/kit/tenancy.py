"""Tenant-subtree authorisation helpers.

Tenants form a tree (city → district/county → zone/township). A principal scoped to a tenant
sees that tenant and its whole subtree, never a sibling's. Each tenant carries its ancestry as a
materialised path of division codes, e.g. ``210100/210112/210112001``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from steward.kit.auth import Principal
from steward.kit.errors import Forbidden, NotFound

PATH_SEP = "/"


def ancestry_of(path: str) -> list[str]:
    """``"210100/210112"`` → ``["210100", "210112"]`` (root first, the tenant itself last)."""
    return [p for p in path.split(PATH_SEP) if p]


ALL_TENANTS = "*"


def in_subtree(scope_tenant: str, ancestry: Sequence[str]) -> bool:
    """Whether a tenant with this ancestry lies in ``scope_tenant``'s subtree (itself included).

    ``*`` is the scope of service principals (other Steward services acting for the platform)."""
    return scope_tenant == ALL_TENANTS or scope_tenant in ancestry


def subtree_prefix(path: str) -> str:
    """The ``LIKE`` prefix matching a tenant's path and every descendant's."""
    return path.rstrip(PATH_SEP) + PATH_SEP


def ensure_visible(principal: Principal, ancestry: Sequence[str], *, what: str = "resource") -> None:
    """Reads outside the principal's subtree look like missing rows: existence is not leaked."""
    if not in_subtree(principal.tenant, ancestry):
        raise NotFound(f"{what} not found")


def ensure_writable(principal: Principal, ancestry: Sequence[str]) -> None:
    """Writes into a tenant outside the principal's subtree are forbidden."""
    if not in_subtree(principal.tenant, ancestry):
        raise Forbidden("tenant is outside your scope", code="tenant_out_of_scope")


def subtree_clause(path_column: Any, path: str) -> sa.ColumnElement[bool]:
    """SQL condition: the row's tenant path is ``path`` or lies below it (index-friendly prefix match)."""
    column = col(path_column)
    return sa.or_(column == path, column.startswith(subtree_prefix(path), autoescape=True))
