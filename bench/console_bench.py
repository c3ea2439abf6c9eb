"""The web console over loopback: a real registry, issues and notify with the demo data in this
event loop (on a NATS of their own) and the console in front of them, signed in as a district
dispatcher.

Rows: response time (request to last byte, including the console's calls to the services' REST
APIs, which here share this one process and event loop) p50/p95 for the home page (工作台) and the
list pages, one request at a time; the console's own template render p95 (``Server-Timing``); and
the JavaScript bytes each page loads (every asset is local, so this is the page weight a
government intranet carries).
"""

from __future__ import annotations

import asyncio
import re

import httpx

from bench.common import BenchContext, Row, latency_rows, measure, percentile
from steward.console.testing import migrate_all, private_nats, running_platform

PAGES = {
    "home": "/",
    "projects": "/projects",
    "matters": "/matters",
    "inbox": "/inbox",
    "reports": "/reports",
}
REQUESTS = 60


async def _sign_in(client: httpx.AsyncClient, person: str, role: str) -> None:
    page = await client.get("/signin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None, page.text[:300]
    resp = await client.post("/signin/dev", data={"csrf": csrf.group(1), "person": person, "role": role})
    assert resp.status_code == 303, resp.text[:300]


async def _js_bytes(client: httpx.AsyncClient, html: str) -> int:
    total = 0
    for src in re.findall(r'<script[^>]+src="([^"]+)"', html):
        total += len((await client.get(src)).content)
    return total


async def run(ctx: BenchContext) -> list[Row]:
    n = ctx.scaled(REQUESTS, minimum=3)
    databases = await asyncio.to_thread(migrate_all, ctx.database_url)
    rows: list[Row] = []
    with private_nats() as nats_url:  # the demo's events stay off the other modules' consumers
        rows += await _measure(databases, nats_url, n)
    return rows


async def _measure(databases: dict[str, str], nats_url: str, n: int) -> list[Row]:
    rows: list[Row] = []
    async with (
        running_platform(databases, nats_url, log_level="WARNING") as platform,
        httpx.AsyncClient(base_url=platform.console, timeout=30) as client,
    ):
        await _sign_in(client, "demo-210112-staff0", "dispatcher")
        for name, path in PAGES.items():
            first = await client.get(path)  # warm caches and connection pools
            assert first.status_code == 200, (path, first.status_code)

            own: list[float] = []

            async def get(_: int, path: str = path, own: list[float] = own) -> None:
                resp = await client.get(path)
                assert resp.status_code == 200
                own.append(float(resp.headers["server-timing"].split("dur=")[1]))

            timing = await measure(get, count=n, concurrency=1)
            rows += latency_rows(f"console {name} response", timing, f"{n} requests, dispatcher 210112")
            rows.append(
                Row(f"console {name} template p95", percentile(own, 95), "ms", "the console's own render")
            )
            rows.append(Row(f"console {name} JavaScript", await _js_bytes(client, first.text) / 1024, "KiB"))
    return rows
