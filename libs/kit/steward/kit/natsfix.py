"""One fix between nats-py and FastStream, applied when the bus is imported.

nats-py's ``PullSubscription.fetch`` raises a bare ``asyncio.TimeoutError`` when a batch fetch's
deadline runs out between its no-wait probe and its waiting request (typical right after a service
starts, while JetStream answers the first fetches slowly). FastStream's pull loop suppresses only
``nats.errors.TimeoutError``, so it logged "Task-NN raised an exception, retrying… TimeoutError" at
ERROR and restarted the consumer task on every start. An empty fetch is not an error: the wrapper
re-raises it as ``nats.errors.TimeoutError`` — a subclass of ``asyncio.TimeoutError``, so every
caller that caught the old error still catches it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import nats.errors
from nats.js import JetStreamContext

T = TypeVar("T")
_MARK = "_steward_timeout_fix"


def as_nats_timeout(fetch: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """``fetch`` raising ``nats.errors.TimeoutError`` wherever it raised a bare timeout."""

    @functools.wraps(fetch)
    async def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return await fetch(*args, **kwargs)
        except nats.errors.TimeoutError:
            raise
        except TimeoutError as exc:
            raise nats.errors.TimeoutError from exc

    setattr(wrapper, _MARK, True)
    return wrapper


def apply() -> None:
    """Wrap ``PullSubscription.fetch`` once (idempotent)."""
    pull = JetStreamContext.PullSubscription
    if not getattr(pull.fetch, _MARK, False):
        pull.fetch = as_nats_timeout(pull.fetch)  # type: ignore[method-assign,assignment]
