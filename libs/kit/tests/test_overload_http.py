"""Refusals under overload answered by the HTTP server's protocol (``kit.overload_http``): the same
503 ``overloaded`` the application gives, without an ASGI task, on a connection that stays usable
(real uvicorn with httptools, raw sockets where the bytes matter)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from steward.kit import overload
from steward.kit.http import create_app
from steward.kit.overload_http import protocol_for, refusal
from steward.kit.settings import ServiceSettings
from steward.kit.testing import serving


@pytest.fixture
async def full() -> AsyncIterator[tuple[str, FastAPI]]:
    """A replica serving one request at a time without a queue, its one slot held."""
    router = APIRouter()
    release = asyncio.Event()
    entered = asyncio.Event()

    @router.post("/v1/hold")
    async def hold() -> dict[str, bool]:
        entered.set()
        await release.wait()
        return {"ok": True}

    @router.post("/v1/echo")
    async def echo(body: dict[str, Any]) -> dict[str, Any]:
        return body

    settings = ServiceSettings(
        service_name="kit-overload-http", http_max_in_flight=1, http_min_in_flight=1, http_queue_seconds=0
    )
    app = create_app(service="kit-overload-http", title="t", version="0", routers=[router], settings=settings)
    async with serving(app, name="overload-http") as base, httpx.AsyncClient(base_url=base) as client:
        holding = asyncio.create_task(client.post("/v1/hold"))
        await asyncio.wait_for(entered.wait(), 10)
        try:
            yield base, app
        finally:
            release.set()
            assert (await holding).status_code == 200


@pytest.fixture
def asgi_refusals(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the refusals the application itself writes."""
    seen: list[int] = []
    real = overload._refuse

    async def counted(*args: Any) -> None:
        seen.append(1)
        await real(*args)

    monkeypatch.setattr(overload, "_refuse", counted)
    return seen


async def _exchange(base: str, raw: bytes, *, until: int) -> bytes:
    """Send ``raw`` on one connection; what comes back until ``until`` responses or the close."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(raw)
    await writer.drain()
    got = b""
    try:
        while got.count(b"HTTP/1.1 ") < until or not _complete(got):
            chunk = await asyncio.wait_for(reader.read(65536), 10)
            if not chunk:
                break
            got += chunk
    finally:
        writer.close()
    return got


def _complete(data: bytes) -> bool:
    head, _, body = data.rpartition(b"HTTP/1.1 ")[2].partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    return len(body) >= length


async def test_a_refusal_is_the_applications_answer_without_the_application(
    full: tuple[str, FastAPI], asgi_refusals: list[int]
) -> None:
    base, _ = full
    before = overload.OVERLOAD_REFUSED.labels("kit-overload-http")._value.get()
    async with httpx.AsyncClient(base_url=base) as client:
        answers = [
            await client.post("/v1/echo", json={"n": i}, headers={"X-Request-ID": f"req-{i}"})
            for i in range(20)
        ]
        fresh = await client.post("/v1/echo", json={})
    for i, r in enumerate(answers):
        assert r.status_code == 503
        assert r.headers["retry-after"] == "1"
        assert r.headers["x-request-id"] == f"req-{i}"
        assert r.json() == {
            "error": {
                "code": "overloaded",
                "message": "this replica is at capacity; retry shortly",
                "details": [],
                "request_id": f"req-{i}",
            }
        }
    assert (
        len(fresh.headers["x-request-id"]) == 32
        and fresh.json()["error"]["request_id"] == fresh.headers["x-request-id"]
    )
    assert asgi_refusals == []  # every one answered by the protocol
    assert overload.OVERLOAD_REFUSED.labels("kit-overload-http")._value.get() - before == 21


async def test_the_refused_body_is_dropped_and_the_connection_serves_the_next_request(
    full: tuple[str, FastAPI],
) -> None:
    base, _ = full
    body = json.dumps({"pad": "x" * 200_000}).encode()  # arrives in several reads after the answer
    raw = (
        b"POST /v1/echo HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
        b"content-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
        + b"GET /healthz HTTP/1.1\r\nhost: t\r\n\r\n"
    )
    got = await _exchange(base, raw, until=2)
    first, _, second = got.partition(b"HTTP/1.1 200")
    assert first.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"retry-after: 1\r\n" in first
    assert second, got[:500]  # health is never refused, and the body did not pass for a request


async def test_a_client_that_asked_to_close_gets_the_refusal_and_the_close(full: tuple[str, FastAPI]) -> None:
    base, _ = full
    got = await _exchange(
        base,
        b"POST /v1/echo HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}",
        until=2,  # more than comes: returns on the close
    )
    assert got.startswith(b"HTTP/1.1 503") and got.count(b"HTTP/1.1 ") == 1


async def test_a_request_that_may_wait_for_a_slot_still_reaches_the_application() -> None:
    router = APIRouter()

    @router.get("/v1/nap")
    async def nap() -> dict[str, bool]:
        await asyncio.sleep(0.2)
        return {"ok": True}

    settings = ServiceSettings(
        service_name="kit-overload-wait", http_max_in_flight=1, http_min_in_flight=1, http_queue_seconds=5
    )
    app = create_app(service="kit-overload-wait", title="t", version="0", routers=[router], settings=settings)
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as client:
        answers = await asyncio.gather(client.get("/v1/nap"), client.get("/v1/nap"))
    assert [r.status_code for r in answers] == [200, 200]


def test_an_app_without_the_gate_keeps_uvicorns_own_protocol() -> None:
    assert protocol_for(FastAPI()) == "auto"


def test_the_raw_answer_is_well_formed() -> None:
    raw = refusal("abc")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"HTTP/1.1 503 Service Unavailable"
    assert f"content-length: {len(body)}".encode() in head.split(b"\r\n")
    assert json.loads(body)["error"]["request_id"] == "abc"


async def test_requests_read_in_one_turn_are_refused_by_the_server_not_the_application(
    asgi_refusals: list[int],
) -> None:
    """Requests whose headers arrive in the same turn of the event loop reach the gate only after
    all of them were read: the server holds a place at the gate for each it lets through, so the
    ones beyond the one waiting place are refused by the server, not taken in and refused by the
    application."""
    router = APIRouter()
    release = asyncio.Event()
    entered = asyncio.Event()

    @router.get("/v1/hold")
    async def hold() -> dict[str, bool]:
        entered.set()
        await release.wait()
        return {"ok": True}

    @router.get("/v1/quick")
    async def quick() -> dict[str, bool]:
        return {"ok": True}

    settings = ServiceSettings(
        service_name="kit-overload-turn", http_max_in_flight=1, http_min_in_flight=1, http_queue_seconds=10
    )
    app = create_app(service="kit-overload-turn", title="t", version="0", routers=[router], settings=settings)
    async with serving(app, name="overload-turn") as base, httpx.AsyncClient(base_url=base) as client:
        holding = asyncio.create_task(client.get("/v1/hold"))
        await asyncio.wait_for(entered.wait(), 10)
        host, port = base.removeprefix("http://").split(":")
        conns = [await asyncio.open_connection(host, int(port)) for _ in range(6)]
        await asyncio.sleep(0.05)  # every connection accepted
        for _, writer in conns:  # no await between: the server reads all six in one turn
            writer.write(b"GET /v1/quick HTTP/1.1\r\nhost: t\r\n\r\n")
        firsts = await asyncio.gather(
            *(asyncio.wait_for(reader.read(65536), 0.5) for reader, _ in conns), return_exceptions=True
        )
        release.set()
        assert (await holding).status_code == 200
        answered = [f for f in firsts if isinstance(f, bytes)]
        late = [i for i, f in enumerate(firsts) if not isinstance(f, bytes)]
        assert len(answered) == 5 and all(a.startswith(b"HTTP/1.1 503") for a in answered)
        assert len(late) == 1  # the one that waited for the slot gets it once the hold ends
        waited = await asyncio.wait_for(conns[late[0]][0].read(65536), 10)
        assert waited.startswith(b"HTTP/1.1 200")
        for _, writer in conns:
            writer.close()
    assert asgi_refusals == []
