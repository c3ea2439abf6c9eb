"""Test support shared by every service: serve an app (REST + its runtime's gRPC) on free loopback
ports inside the current event loop, the way the services' own tests and end-to-end tests do; count
the round trips a request makes to PostgreSQL, the BEGINs it sends and the greenlets SQLAlchemy's
asyncio layer starts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import greenlet
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection

from steward.kit.accept import BatchAcceptServer
from steward.kit.db import Database
from steward.kit.overload_http import protocol_for


@asynccontextmanager
async def serving(app: FastAPI, *, name: str = "service") -> AsyncIterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1 (a free port) until the block ends; yields its base URL.
    The app's lifespan starts and stops its runtime (database, bus, gRPC, workers)."""
    server = BatchAcceptServer(  # connections accepted as `serve` accepts them
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_config=None,
            lifespan="on",
            server_header=False,
            http=protocol_for(app),  # as `serve` runs it
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(400):
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)
    if not server.started:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
        raise RuntimeError(f"{name} did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def input_policy_violations(app: FastAPI) -> list[str]:
    """Every ``/v1/`` operation of ``app`` probed with a NUL character in a query value, a query
    name and a path parameter: each must answer 422 ``invalid_data`` (the ``clean_request`` router
    dependency of :mod:`steward.kit.inputs`). Returns what answered otherwise (empty: all refused).

    Pass an app without a runtime (the services' ``openapi_app()``): the refusal comes before
    authentication, the database or another service is asked."""
    import re

    import httpx

    app.state.db = None  # the database dependency only hands the handle out; nothing may use it
    operations = [
        (method.upper(), path)
        for path, ops in app.openapi()["paths"].items()
        if path.startswith("/v1/")
        for method in ops
        if method in ("get", "post", "put", "patch", "delete")
    ]
    violations: list[str] = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        for method, path in operations:
            plain = re.sub(r"\{[^}]+\}", "x", path)
            probes: list[tuple[str, dict[str, str]]] = [(plain, {"probe": "a\x00b"}), (plain, {"a\x00": "b"})]
            if "{" in path:
                probes.append((re.sub(r"\{[^}]+\}", "x%00y", path), {}))
            for url, params in probes:
                r = await client.request(method, url, params=params)
                code = r.json().get("error", {}).get("code") if r.status_code == 422 else None
                if code != "invalid_data":
                    violations.append(f"{method} {url} {params!r}: {r.status_code} {r.text[:120]}")
    if not operations:
        violations.append("no /v1/ operations found")
    return violations


class RoundTrips:
    """Round trips to PostgreSQL of the current task: BEGIN, every statement, COMMIT. The service's
    background loops use the same engine (outbox relay, audit chain, consumers): counting only the
    task that runs the request leaves them out. ``with RoundTrips(db) as trips: ...; trips.count``."""

    def __init__(self, db: Database) -> None:
        self.sent: list[str] = []
        self.engine = db.engine.sync_engine
        self.task: asyncio.Task[Any] | None = None

    def __enter__(self) -> RoundTrips:
        self.task = asyncio.current_task()
        sa.event.listen(self.engine, "before_cursor_execute", self._statement)
        sa.event.listen(self.engine, "begin", self._begin)
        sa.event.listen(self.engine, "commit", self._commit)
        return self

    def __exit__(self, *exc: Any) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._statement)
        sa.event.remove(self.engine, "begin", self._begin)
        sa.event.remove(self.engine, "commit", self._commit)

    def _mine(self) -> bool:
        try:
            return asyncio.current_task() is self.task
        except RuntimeError:  # no running loop: not the request
            return False

    def _statement(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self._mine():
            self.sent.append(" ".join(statement.split()))

    def _begin(self, conn: Any) -> None:
        # a read session's connection runs in AUTOCOMMIT: SQLAlchemy begins, nothing is sent
        if self._mine() and conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            self.sent.append("BEGIN")

    def _commit(self, conn: Any) -> None:
        if self._mine():
            self.sent.append("COMMIT")

    @property
    def count(self) -> int:
        return len(self.sent)


class Greenlets:
    """The greenlets started (switched into for the first time) while counting: each AsyncSession
    call that does its work in one maps a fresh frame stack for it."""

    def __init__(self) -> None:
        self.started: list[Any] = []  # held, so no id is reused while counting
        self._seen: set[int] = set()

    def __call__(self, event: str, args: Any) -> None:
        if event == "switch":
            _origin, target = args
            if id(target) not in self._seen and target is not self.main:
                self._seen.add(id(target))
                self.started.append(target)

    def __enter__(self) -> Greenlets:
        self.main = greenlet.getcurrent()
        self._before = greenlet.settrace(self)
        return self

    def __exit__(self, *_: object) -> None:
        greenlet.settrace(self._before)


def _serving_a_request() -> bool:
    """Whether the current task is uvicorn's request-response cycle (an HTTP request this process
    serves, not the service's own loops: the outbox relay, timers, consumers)."""
    current = asyncio.current_task()
    return current is not None and "run_asgi" in current.get_coro().__qualname__  # type: ignore[union-attr]


class Opened:
    """The sessions HTTP requests open on ``db`` while counting, in order: ``"lone"``
    (``Database.lone``) or ``"transaction"`` (``Database.transaction``)."""

    KINDS = ("lone", "transaction")

    def __init__(self, db: Database) -> None:
        self.db = db
        self.kinds: list[str] = []

    def __enter__(self) -> Opened:
        for kind in self.KINDS:
            original = getattr(self.db, kind)

            def counted(original: Any = original, kind: str = kind) -> Any:
                if _serving_a_request():
                    self.kinds.append(kind)
                return original()

            setattr(self.db, kind, counted)
        return self

    def __exit__(self, *_: object) -> None:
        for kind in self.KINDS:
            delattr(self.db, kind)  # the class's own again


class Begins:
    """The BEGINs sent to PostgreSQL while counting (each a round trip, and a COMMIT to follow),
    seen without statement hooks (with hooks listening, hot-path statements go through SQLAlchemy
    and would not go alone): by the current task, or with ``requests=True`` by the HTTP requests this
    process serves (not the service's own loops: the outbox relay, timers, consumers)."""

    def __init__(self, *, requests: bool = False) -> None:
        self.requests = requests
        self.sent: list[str] = []

    def __enter__(self) -> Begins:
        task = asyncio.current_task()
        original = self._original = AsyncAdapt_asyncpg_connection._start_transaction

        def counted_here() -> bool:
            return _serving_a_request() if self.requests else asyncio.current_task() is task

        async def counted(adapted: Any) -> None:
            if counted_here() and adapted.isolation_level != "autocommit":  # a read session sends none
                self.sent.append("BEGIN")
            await original(adapted)

        AsyncAdapt_asyncpg_connection._start_transaction = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *_: object) -> None:
        AsyncAdapt_asyncpg_connection._start_transaction = self._original  # type: ignore[method-assign]

    @property
    def count(self) -> int:
        return len(self.sent)
