"""Identifiers: time-ordered UUIDv7 for rows and events.

RFC 9562's layout — 48 bits of Unix milliseconds, the version, 12 bits, the variant, 62 random bits —
with its method 3 for the 12 bits: the fraction of the millisecond (steps of ~244 ns). An id made in
the same step as the one before (or when the clock went back) takes the step after that one, so the
ids of a process are strictly increasing, and their time stays the clock's until a process makes more
than 4,096 in one millisecond. (A plain per-millisecond counter — the ``uuid6`` package's — moves
the time one millisecond ahead for each further id in the same millisecond: a filing makes six ids,
so at a few hundred filings per second the ids' time ran seconds ahead of the clock.)

The random bits come from the operating system's CSPRNG (``os.urandom``, one call per id): ids are
not guessable from one another.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_VERSION = 0x7 << 76
_VARIANT = 0b10 << 62
_RANDOM = (1 << 62) - 1
_STEPS = 4096  # the millisecond's fraction: 12 bits
_last = 0  # (milliseconds << 12) | fraction of the last id
_lock = threading.Lock()


def new_id() -> uuid.UUID:
    """A UUIDv7: sortable by creation time, safe to generate on any replica."""
    global _last
    ms, ns = divmod(time.time_ns(), 1_000_000)
    at = (ms << 12) | (ns * _STEPS // 1_000_000)
    with _lock:  # threads (the migrations, a to_thread helper) share the sequence
        if at <= _last:
            at = _last + 1
        _last = at
    rand = int.from_bytes(os.urandom(8), "big") & _RANDOM
    return uuid.UUID(int=(at >> 12) << 80 | _VERSION | (at & 0xFFF) << 64 | _VARIANT | rand)


def id_time_ns(value: uuid.UUID) -> int:
    """When a :func:`new_id` was made, in nanoseconds since the epoch (to the 12-bit step)."""
    n = value.int
    return (n >> 80) * 1_000_000 + ((n >> 64) & 0xFFF) * 1_000_000 // _STEPS
