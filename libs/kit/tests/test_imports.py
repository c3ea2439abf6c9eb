"""What a service process loads: each module a service imports and never uses is resident memory
in every replica (goal: under 120 MiB per service)."""

from __future__ import annotations

import subprocess
import sys

UNUSED = [
    "faststream",  # the bus runs its own pull loop on nats-py
    "httpx",  # loaded where a service token is fetched, or by a service that calls out over HTTP
    "opentelemetry.instrumentation.asgi",  # built on the first request while spans are exported
]


def test_the_kit_runtime_and_an_app_load_no_module_they_do_not_use() -> None:
    code = """
import asyncio, sys
from steward.kit import auth_tokens, batches, bus, pulls, runtime
from steward.kit.http import TraceContextMiddleware, create_app

app = create_app(service="kit-imports", title="t", version="1")

async def lifespan():
    async def plain(scope, receive, send):
        pass
    middleware = TraceContextMiddleware(plain)
    await middleware({"type": "lifespan"}, None, None)
    assert middleware._full is None, "built for a lifespan event"

asyncio.run(lifespan())
print(",".join(m for m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(out.strip().split(","))
    assert "steward.kit.bus" in loaded
    assert [m for m in UNUSED if m in loaded] == []
