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
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on"))
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
