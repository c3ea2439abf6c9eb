"""What every benchmark module shares: the result row, the context (servers, scale), and small
helpers for bounded concurrent loops and latency percentiles.

A module is ``bench/<name>_bench.py`` with ``async def run(ctx: BenchContext) -> list[Row]``.
Sizes are multiplied by ``ctx.scale`` (``ctx.scaled(n)``): 1.0 for ``make bench``, e.g. 0.01 in
the smoke test. Everything runs on loopback against the runner's PostgreSQL and NATS.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
import resource
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from steward.devtools.infra import DatabaseServer, ExternalPostgres

if TYPE_CHECKING:
    from steward.registry.testing import Registry

__all__ = [
    "BenchContext",
    "Row",
    "Timing",
    "latency_rows",
    "measure",
    "peak_rss_mib",
    "percentile",
    "setup_get",
]


@dataclass
class Row:
    """One measured number: ``Row("project register p95", 12.3, "ms", "concurrency 8")``."""

    name: str
    value: float
    unit: str
    note: str = ""


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of ``samples``; 0.0 for no samples."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Timing:
    """Per-operation durations (seconds) and the wall time of the whole loop."""

    samples: list[float] = field(default_factory=list)
    wall: float = 0.0

    @property
    def count(self) -> int:
        return len(self.samples)

    def ms(self, q: float) -> float:
        return percentile(self.samples, q) * 1000.0

    @property
    def rate(self) -> float:
        """Operations per second over the wall time."""
        return self.count / self.wall if self.wall > 0 else 0.0


async def measure(op: Callable[[int], Awaitable[Any]], *, count: int, concurrency: int = 1) -> Timing:
    """Run ``op(0) .. op(count-1)`` on ``concurrency`` workers; time each call and the whole loop.

    Bounded: exactly ``count`` calls. The first exception stops the loop and propagates.
    """
    timing = Timing()
    counter = itertools.count()

    async def worker() -> None:
        while (i := next(counter)) < count:
            t0 = time.perf_counter()
            await op(i)
            timing.samples.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    async with asyncio.TaskGroup() as tg:
        for _ in range(max(1, min(concurrency, count))):
            tg.create_task(worker())
    timing.wall = time.perf_counter() - t0
    return timing


def latency_rows(label: str, timing: Timing, note: str = "", *, p99: bool = False) -> list[Row]:
    """``<label> p50`` and ``<label> p95`` (and ``p99``) in ms; the note gets the sample count."""
    note = f"{note}; n={timing.count}" if note else f"n={timing.count}"
    qs = (50, 95, 99) if p99 else (50, 95)
    return [Row(f"{label} p{q}", timing.ms(q), "ms", note) for q in qs]


SETUP_ATTEMPTS = 4
RETRY_AFTER_CAP = 2.0


async def setup_get(http: Any, path: str, **kwargs: Any) -> Any:
    """A read that sets a measurement up (not one that is measured): a ``503`` with ``Retry-After``
    is tried again after it (capped), as the platform's clients are told to. A loaded machine once
    answered a module's first list ``503 registry_unavailable``: the registry's answer to the
    service's look-up took longer than the call's deadline, and the module stopped there."""
    for attempt in range(SETUP_ATTEMPTS):
        r = await http.get(path, **kwargs)
        retry_after = r.headers.get("retry-after")
        if r.status_code != 503 or retry_after is None or attempt == SETUP_ATTEMPTS - 1:
            return r
        await asyncio.sleep(min(float(retry_after), RETRY_AFTER_CAP))
    raise AssertionError("unreachable")


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (``getrusage``), in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


class _AwaitableContext:
    """An async context manager that may also be awaited first (``async with await ...``)."""

    def __init__(self, manager: AbstractAsyncContextManager[Any]) -> None:
        self._manager = manager

    def __await__(self) -> Generator[Any, None, _AwaitableContext]:
        async def _self() -> _AwaitableContext:
            return self

        return _self().__await__()

    async def __aenter__(self) -> Any:
        return await self._manager.__aenter__()

    async def __aexit__(self, *exc: Any) -> bool | None:
        return await self._manager.__aexit__(*exc)


class BenchContext:
    """What a benchmark module gets: the NATS URL, a scale factor and fresh databases.

    ``database_url(prefix)`` creates a new database on the runner's PostgreSQL (an embedded server,
    or ``STEWARD_DATABASE_URL``); ``run_registry()`` runs a real registry (HTTP + gRPC + outbox
    relay) in this event loop on loopback ports, on a freshly migrated database.
    """

    def __init__(
        self,
        *,
        nats_url: str,
        server: DatabaseServer,
        scale: float = 1.0,
        server_note: str = "",
        nats_pid: int | None = None,
    ) -> None:
        if not scale > 0:
            raise ValueError("scale must be > 0")
        self.nats_url = nats_url
        self.server = server
        self.scale = scale
        self.server_note = server_note
        self.nats_pid = nats_pid  # the NATS server's process when it is ours (CPU accounting)
        self.created_databases: list[str] = []

    def scaled(self, n: int, minimum: int = 1) -> int:
        """``n * scale`` rounded, at least ``minimum``."""
        return max(minimum, round(n * self.scale))

    def database_url(self, prefix: str) -> str:
        """A new, empty database ``bench_<prefix>_<random>``; its ``postgresql+asyncpg://`` URL."""
        clean = re.sub(r"[^a-z0-9_]+", "_", prefix.lower()).strip("_")[:30] or "db"
        name = f"bench_{clean}_{uuid.uuid4().hex[:10]}"
        url = self.server.create_database(name)
        self.created_databases.append(name)
        return url

    def run_registry(self, **settings: Any) -> _AwaitableContext:
        """``async with ctx.run_registry() as reg:`` — a :class:`steward.registry.testing.Registry`
        (``reg.http``, ``reg.grpc_target``, ``reg.db``, ``reg.auth(tenant, *roles)``) serving on
        loopback, on a new migrated database. ``settings`` override ``RegistrySettings`` fields."""
        return _AwaitableContext(self._registry(**settings))

    @asynccontextmanager
    async def _registry(self, **settings: Any) -> AsyncIterator[Registry]:
        from steward.registry.testing import migrate, running_registry

        url = self.database_url("registry")
        await asyncio.to_thread(migrate, url)  # Alembic runs its own event loop: not in this one
        settings.setdefault("log_level", "WARNING")
        async with running_registry(url, self.nats_url, **settings) as reg:
            yield reg

    def drop_databases(self) -> None:
        """Drop the databases made here when the server is not ours (a local one is thrown away)."""
        if not isinstance(self.server, ExternalPostgres):
            return
        for name in self.created_databases:
            try:
                self.server.drop_database(name)
            except Exception as exc:  # best effort
                print(f"bench: could not drop database {name}: {exc}", file=sys.stderr)
        self.created_databases.clear()
