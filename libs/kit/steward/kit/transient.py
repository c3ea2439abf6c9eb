"""Transient failures: a dependency that is down or slow (PostgreSQL restarting, the registry
unreachable, a timeout) is not the caller's fault and not the message's fault.

- REST answers 503 ``unavailable`` with ``Retry-After``, gRPC answers UNAVAILABLE (which every kit
  client retries with backoff), never 500 / INTERNAL.
- A consumer whose handler fails transiently NACKs with a backoff for as long as it takes, without
  spending the message's poison budget: only failures that can never succeed lead to the
  dead-letter subject (docs/architecture.md §2).
"""

from __future__ import annotations

import asyncpg.exceptions as pg
import grpc
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from steward.kit.db import is_retryable_conflict, sqlstate

TRANSIENT_GRPC = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
)
_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    TimeoutError,
    ConnectionError,
    PoolTimeout,
    pg.PostgresConnectionError,
    pg.CannotConnectNowError,
    pg.ConnectionDoesNotExistError,
    pg.TooManyConnectionsError,
    pg.AdminShutdownError,
    pg.CrashShutdownError,
    pg.InterfaceError,
    pg.TargetServerAttributeNotMatched,  # a multi-host URL found no writable server (failover)
)
# SQLSTATE classes 08 (connection exception) and 57P (operator intervention: shutdown, cannot connect now)
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "57P", "53300")


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) means "a dependency is unavailable now"."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _one(current):
            return True
        orig = getattr(current, "orig", None)  # SQLAlchemy's wrapped driver error
        if isinstance(orig, BaseException) and id(orig) not in seen and is_transient(orig):
            return True
        current = current.__cause__ or current.__context__
    return False


def _one(exc: BaseException) -> bool:
    if getattr(exc, "status_code", None) == 503:  # e.g. RegistryUnavailable, Unavailable
        return True
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code() in TRANSIENT_GRPC
    if isinstance(exc, _TRANSIENT_TYPES):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated or is_retryable_conflict(exc):
            return True
        return sqlstate(exc).startswith(_TRANSIENT_SQLSTATE_PREFIXES)
    # network errors (refused, reset, unreachable, DNS); not a missing or forbidden file
    return isinstance(exc, OSError) and not isinstance(exc, _LOCAL_OS_ERRORS)


_LOCAL_OS_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)
