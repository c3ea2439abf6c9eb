"""Bounded in-flight work per process (issue 15, goal 2): a flood of a slow endpoint is answered
with fast 503 ``overloaded`` + ``Retry-After`` beyond the limit, never with timeouts, and health,
readiness and metrics still answer."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from steward.kit.http import create_app
from steward.kit.overload import Gate
from steward.kit.settings import ServiceSettings
from steward.kit.testing import serving

SLOW_SECONDS = 2.0


def make_app(**extra: Any) -> tuple[FastAPI, dict[str, int]]:
    router = APIRouter()
    seen = {"now": 0, "max": 0, "served": 0}

    @router.get("/v1/slow")
    async def slow() -> dict[str, bool]:
        seen["now"] += 1
        seen["max"] = max(seen["max"], seen["now"])
        try:
            await asyncio.sleep(SLOW_SECONDS)
        finally:
            seen["now"] -= 1
        seen["served"] += 1
        return {"ok": True}

    settings = ServiceSettings(service_name="kit-overload", **extra)
    app = create_app(service="kit-overload", title="t", version="0", routers=[router], settings=settings)
    return app, seen


async def _flood(base: str, n: int) -> list[tuple[int, float, httpx.Response]]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=base, timeout=10.0, limits=limits) as client:

        async def one() -> tuple[int, float, httpx.Response]:
            t0 = time.perf_counter()
            r = await client.get("/v1/slow")
            return r.status_code, time.perf_counter() - t0, r

        return await asyncio.gather(*(one() for _ in range(n)))


async def test_a_flood_beyond_the_limit_gets_fast_503s_and_no_timeouts() -> None:
    app, seen = make_app(http_max_in_flight=4, http_queue_seconds=0.05)
    async with serving(app, name="overload") as base:
        results = await _flood(base, 40)
        async with httpx.AsyncClient(base_url=base, timeout=5.0) as client:
            # a busy replica is not a dead one: probes are never refused (checked while flooded)
            probe = asyncio.gather(*(_flood(base, 8), client.get("/healthz"), client.get("/readyz")))
            _, health, ready = await probe
            assert health.status_code == 200 and ready.status_code == 200
    ok = [r for r in results if r[0] == 200]
    refused = [r for r in results if r[0] == 503]
    assert len(ok) + len(refused) == len(results)  # nothing else: no timeout, no 500
    assert 4 <= len(ok) <= 8 and len(refused) >= 32
    assert seen["max"] <= 4  # the handler never ran more than the limit at once
    for _, elapsed, response in refused:
        assert elapsed < SLOW_SECONDS / 2  # refused at once (after the short queue budget), not served late
        assert response.headers["retry-after"] == "1"
        error = response.json()["error"]
        assert error["code"] == "overloaded" and error["request_id"]
        assert response.headers["x-request-id"] == error["request_id"]


async def test_the_default_limit_serves_a_modest_burst_in_full() -> None:
    app, seen = make_app()
    async with serving(app, name="overload-default") as base:
        results = await _flood(base, 16)
    assert [r[0] for r in results] == [200] * 16
    assert seen["served"] == 16


async def test_zero_turns_the_bound_off() -> None:
    app, seen = make_app(http_max_in_flight=0)
    async with serving(app, name="overload-off") as base:
        results = await _flood(base, 40)
    assert [r[0] for r in results] == [200] * 40
    assert seen["max"] == 40


async def test_a_waiter_gets_the_slot_a_finished_request_frees() -> None:
    gate = Gate(1, queue_seconds=1.0)
    assert await gate.acquire()
    waiter = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0.01)
    assert gate.waiting == 1
    gate.release()  # handed straight to the waiter
    assert await waiter is True
    assert gate.active == 1 and gate.waiting == 0
    gate.release()
    assert gate.active == 0


@pytest.mark.parametrize("queue_seconds", [0.0, 0.05])
async def test_a_full_gate_refuses_within_the_budget(queue_seconds: float) -> None:
    gate = Gate(1, queue_seconds=queue_seconds, max_waiting=1)
    assert await gate.acquire()
    t0 = time.perf_counter()
    assert await gate.acquire() is False
    assert time.perf_counter() - t0 < queue_seconds + 0.2
    assert gate.waiting == 0 and gate.active == 1


async def test_waiters_beyond_the_queue_are_refused_at_once() -> None:
    gate = Gate(1, queue_seconds=5.0, max_waiting=1)
    assert await gate.acquire()
    first = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0.01)
    t0 = time.perf_counter()
    assert await gate.acquire() is False  # the queue is full: no wait
    assert time.perf_counter() - t0 < 0.1
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert gate.waiting == 0 and gate.active == 1
