"""Keyset cursors of notify's lists: ``(created_at, id)`` of the last row returned, validated."""

from __future__ import annotations

import uuid
from datetime import datetime

from steward.kit.errors import ValidationFailed
from steward.kit.pagination import decode_cursor, encode_cursor


def encode_keyset(created_at: datetime, row_id: uuid.UUID) -> str:
    return encode_cursor([created_at.isoformat(), str(row_id)])


def decode_keyset(cursor: str) -> tuple[datetime, uuid.UUID]:
    """A 422 ``invalid_cursor`` for anything that is not a cursor this service handed out."""
    ts, rid = decode_cursor(cursor, size=2)
    try:
        if not isinstance(ts, str) or not isinstance(rid, str):
            raise ValueError("cursor values are not strings")
        at = datetime.fromisoformat(ts)
        if at.tzinfo is None:
            raise ValueError("cursor time has no time zone")
        return at, uuid.UUID(rid)
    except ValueError as exc:
        raise ValidationFailed("malformed cursor", code="invalid_cursor") from exc
