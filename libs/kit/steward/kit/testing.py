"""Test support shared by every service: serve an app (REST + its runtime's gRPC) on free loopback
ports inside the current event loop, the way the services' own tests and end-to-end tests do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI


@asynccontextmanager
async def serving(app: FastAPI, *, name: str = "service") -> AsyncIterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1 (a free port) until the block ends; yields its base URL.
    The app's lifespan starts and stops its runtime (database, bus, gRPC, workers)."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on", server_header=False)
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
