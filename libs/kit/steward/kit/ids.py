"""Identifiers: time-ordered UUIDv7 for rows and events."""

from __future__ import annotations

import uuid

import uuid6


def new_id() -> uuid.UUID:
    """A UUIDv7: sortable by creation time, safe to generate on any replica."""
    return uuid.UUID(int=uuid6.uuid7().int)  # a plain UUID (uuid6's subclass), without a text round trip
