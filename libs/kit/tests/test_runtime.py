"""ServiceRuntime: one process wiring database, bus, gRPC, outbox relay and timers (docs/architecture.md)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlmodel.ext.asyncio.session import AsyncSession

from steward.events.envelope import CloudEvent
from steward.kit.http import create_app
from steward.kit.outbox import emit
from steward.kit.runtime import ServiceRuntime
from steward.kit.settings import ServiceSettings
from steward.kit.timers import DueTimer, schedule


async def test_runtime_lifecycle_end_to_end(db_url: str, nats_url: str, kit: Any, tenant: str) -> None:
    from steward.kit.db import Database

    setup_db = Database(db_url)
    await kit.create_tables(setup_db)
    await setup_db.dispose()

    settings = ServiceSettings(
        service_name=f"kit-rt-{uuid.uuid4().hex[:6]}",
        database_url=db_url,
        nats_url=nats_url,
        grpc_port=0,
        outbox_poll_seconds=0.1,
        timer_poll_seconds=0.05,
        shutdown_grace_seconds=0.5,
    )
    runtime = ServiceRuntime(settings)
    received: list[CloudEvent] = []
    fired: list[str] = []

    async def on_event(event: CloudEvent) -> None:
        received.append(event)

    async def on_timer(session: AsyncSession, timer: DueTimer) -> None:
        fired.append(timer.key)

    runtime.add_subscription(f"steward.events.{tenant}.>", consumer=f"kit_rt_{tenant}", handler=on_event)
    runtime.add_timer("remind", on_timer)
    app = create_app(
        service=settings.service_name,
        title="rt",
        version="0",
        lifespan=runtime.lifespan,
        readiness=runtime.readiness(),
    )

    async with runtime.lifespan(app):
        assert app.state.db is runtime.db and app.state.verifier is runtime.verifier
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://rt") as client:
            ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert set(ready.json()["checks"]) == {"database", "nats", "calendar", "dead_letters"}
        assert ready.json()["instance"] == settings.instance_id  # a runner knows it is its own process

        assert runtime.grpc is not None
        async with grpc.aio.insecure_channel(runtime.grpc.address) as ch:
            resp = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert resp.status == health_pb2.HealthCheckResponse.SERVING

        async with runtime.db.transaction() as session:
            event = await emit(session, kit.Pinged(n=1), tenant=tenant, source="kit-rt")
            await schedule(
                session,
                kind="remind",
                key="k1",
                tenant=tenant,
                due_at=datetime.now(UTC) - timedelta(seconds=1),
            )
        await kit.wait_for(lambda: len(received) == 1, timeout=10, message="outbox → bus → subscriber failed")
        assert received[0].id == event.id
        await kit.wait_for(lambda: fired == ["k1"], timeout=5, message="timer worker did not fire")

    # after shutdown: health NOT_SERVING, bus disconnected, background tasks gone
    assert runtime.grpc is not None
    status = await runtime.grpc.health.Check(health_pb2.HealthCheckRequest(service=""), None)
    assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert not runtime.bus.connected
    assert runtime._tasks == []
    await asyncio.sleep(0)


async def test_readiness_fails_when_nats_is_not_connected(db_url: str, nats_url: str) -> None:
    runtime = ServiceRuntime(ServiceSettings(database_url=db_url, nats_url=nats_url))
    app = create_app(service="kit-rt", title="rt", version="0", readiness=runtime.readiness())
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rt") as client:
            resp = await client.get("/readyz")
    finally:
        await runtime.db.dispose()
    assert resp.status_code == 503
    checks = resp.json()["checks"]
    assert checks["database"]["ok"] is True
    assert checks["nats"] == {"ok": False, "error": "NATS not connected"}


async def test_readiness_reports_years_without_official_holiday_data() -> None:
    from steward.kit.calendar import OFFICIAL_YEARS

    runtime = ServiceRuntime(ServiceSettings(service_name="kit-cal"))
    detail = await runtime.check_calendar()
    year = datetime.now(UTC).year
    expected = [y for y in (year, year + 1) if y not in OFFICIAL_YEARS]
    assert detail["uncovered_years"] == expected
    if expected:
        assert str(expected[0]) in detail["note"] and "fallback" in detail["note"]
    from prometheus_client import REGISTRY

    for y in (year, year + 1):
        value = REGISTRY.get_sample_value("steward_calendar_year_covered", {"year": str(y)})
        assert value == (0.0 if y in expected else 1.0)
    await runtime.db.dispose()


async def test_a_started_server_takes_its_start_up_heap_out_of_the_collectors_reach() -> None:
    """``serve``'s server freezes the start-up heap once it listens: a full collection then walks
    only what was made since (it walked ~200,000 start-up objects, ~100 ms with the loop stopped)."""
    import gc
    import socket

    import uvicorn
    from fastapi import FastAPI

    from steward.kit.runtime import _Server

    gc.unfreeze()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(FastAPI(), log_config=None, lifespan="off")
    config.load()
    server = _Server(config)
    server.lifespan = config.lifespan_class(config)  # as uvicorn's Server._serve sets it up
    try:
        assert gc.get_freeze_count() == 0
        await server.startup(sockets=[sock])
        assert gc.get_freeze_count() > 1000, "the start-up heap is frozen once the server listens"
    finally:
        await server.shutdown()
        gc.unfreeze()
        sock.close()


async def test_the_served_main_loop_wakes_once_a_second_and_at_once_on_a_signal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uvicorn's own main loop wakes ten times a second to look for a stop signal (about 1.5 ms of
    CPU per second in an idle service); the service's sleeps until the date header's next second,
    and a SIGTERM still stops it at once."""
    import signal

    import uvicorn
    from fastapi import FastAPI

    from steward.kit.runtime import _Server

    # uvicorn's own handler, which a library may have wrapped process-wide (sse-starlette's wrapper
    # tells every later event stream in this process to end): only the flag it sets
    monkeypatch.setattr(
        uvicorn.Server, "handle_exit", lambda self, sig, frame: setattr(self, "should_exit", True)
    )
    config = uvicorn.Config(FastAPI(), log_config=None, lifespan="off")
    config.load()
    server = _Server(config)
    ticks: list[int] = []
    real_tick = server.on_tick

    async def counted(counter: int) -> bool:
        ticks.append(counter)
        return await real_tick(counter)

    server.on_tick = counted  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()
    looping = asyncio.create_task(server.main_loop())
    await asyncio.sleep(1.3)
    assert 1 <= len(ticks) <= 3, ticks  # uvicorn's: 13
    assert all(c % 10 == 0 for c in ticks), "every tick refreshes the date header"
    asked = loop.time()
    server.handle_exit(signal.SIGTERM, None)
    await asyncio.wait_for(looping, timeout=0.5)
    assert loop.time() - asked < 0.5
    assert server.should_exit
