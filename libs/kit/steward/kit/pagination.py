"""Keyset pagination: an opaque cursor holding the sort key of the last row returned."""

from __future__ import annotations

import base64
import json
from typing import Any

from steward.kit.errors import ValidationFailed


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, default=str, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, size: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed("malformed cursor", code="invalid_cursor") from exc
    if not isinstance(values, list) or len(values) != size:
        raise ValidationFailed("malformed cursor", code="invalid_cursor")
    return values
