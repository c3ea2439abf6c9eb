"""Keyset paging and tenant-subtree scope: the one way every list of every service pages.

``keyset_page`` orders a statement by its key columns (the last one unique, usually ``id``) and
continues after the cursor with a row-value comparison ``(a, b) < (:a, :b)``, which an index on
``(a, b)`` serves directly. The cursor is opaque (:mod:`steward.kit.pagination`); it holds the key
of the last row returned, and each value is read back as its column's Python type. Anything that is
not a cursor this list handed out answers 422 ``invalid_cursor``. Key columns must not be nullable.

``scoped`` narrows a statement to a tenant's subtree with the kit's index-friendly prefix clause.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import col

from steward.kit.errors import ValidationFailed
from steward.kit.pagination import decode_cursor, encode_cursor
from steward.kit.tenancy import subtree_clause

S = TypeVar("S", bound=Any)


def scoped(stmt: S, path_column: Any, path: str | None) -> S:
    """``stmt`` limited to rows whose tenant path is ``path`` or below it; unchanged for ``None``."""
    if path is None:
        return stmt
    return stmt.where(subtree_clause(path_column, path))


async def keyset_page(
    session: Any,
    stmt: Any,
    *,
    order: Sequence[Any],
    cursor: str | None,
    limit: int,
    descending: bool = True,
) -> tuple[list[Any], str | None]:
    """One page of ``stmt`` ordered by ``order`` (all descending or all ascending) and the cursor
    of the next page (``None`` on the last page).

    Rows are what the session returns for the statement: model instances for ``select(Model)``,
    tuples for ``select(A, B)`` (the key is read from the entity owning each order column)."""
    if not order:
        raise ValueError("keyset_page needs at least one order column")
    if limit < 1:
        raise ValueError("keyset_page needs a limit of at least 1 (the caller validates its maximum)")
    columns = [col(c) for c in order]
    if cursor:  # None or "" (an unset page token): the first page
        key = _decode(cursor, order)

        row_value = sa.tuple_(*columns)
        stmt = stmt.where(row_value < sa.tuple_(*key) if descending else row_value > sa.tuple_(*key))
    stmt = stmt.order_by(*[c.desc() if descending else c.asc() for c in columns]).limit(limit + 1)
    result = await session.exec(stmt) if hasattr(session, "exec") else await session.execute(stmt)
    rows = list(result.all())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor([_plain(_value_of(rows[-1], attr)) for attr in order]) if more else None
    return rows, next_cursor


def _value_of(row: Any, attr: Any) -> Any:
    owner = getattr(attr, "class_", None)
    key: str = getattr(attr, "key", "")
    if owner is not None and isinstance(row, owner):
        return getattr(row, key)
    if isinstance(row, tuple | sa.Row):
        for item in row:
            if owner is not None and isinstance(item, owner):
                return getattr(item, key)
        mapping = getattr(row, "_mapping", None)
        if mapping is not None and key in mapping:
            return mapping[key]
    if key and hasattr(row, key):
        return getattr(row, key)
    raise TypeError(f"cannot read order column {attr!r} from a row of type {type(row).__name__}")


def _plain(value: Any) -> Any:
    if value is None:
        raise ValueError("keyset paging needs non-null order columns")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    return value


def _sql_type(attr: Any) -> Any:
    return getattr(attr, "type", None)


def _python_type(attr: Any) -> type | None:
    try:
        kind: type = _sql_type(attr).python_type
    except (NotImplementedError, AttributeError):
        return None
    return kind


def _decode(cursor: str, order: Sequence[Any]) -> list[Any]:
    raw = decode_cursor(cursor, size=len(order))
    try:
        return [_typed(value, attr) for value, attr in zip(raw, order, strict=True)]
    except (ValueError, TypeError, InvalidOperation, OverflowError) as exc:
        raise ValidationFailed("malformed cursor", code="invalid_cursor") from exc


def _typed(value: Any, attr: Any) -> Any:
    kind = _python_type(attr)
    if isinstance(value, bool) or value is None:
        raise ValueError("cursor value is not a key")
    if kind is datetime:
        if not isinstance(value, str):
            raise ValueError("cursor time is not a string")
        at = datetime.fromisoformat(value)
        if getattr(_sql_type(attr), "timezone", False) and at.tzinfo is None:
            raise ValueError("cursor time has no time zone")
        return at
    if kind is date:
        if not isinstance(value, str):
            raise ValueError("cursor date is not a string")
        return date.fromisoformat(value)
    if kind is uuid.UUID:
        if not isinstance(value, str):
            raise ValueError("cursor id is not a string")
        return uuid.UUID(value)
    if kind is Decimal:
        if not isinstance(value, str | int):
            raise ValueError("cursor amount is not a decimal")
        amount = Decimal(value)
        if not amount.is_finite():
            raise ValueError("cursor amount is not finite")
        return amount
    if kind is int:
        if not isinstance(value, int):
            raise ValueError("cursor value is not an integer")
        if abs(value) >= 2**63:
            raise ValueError("cursor integer out of range")
        return value
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(value)
    if not isinstance(value, str):
        raise ValueError("cursor value is not text")
    if "\x00" in value:
        raise ValueError("cursor text holds NUL")
    return value
