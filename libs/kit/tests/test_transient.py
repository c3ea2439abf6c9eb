"""Transient failures: retried for as long as it takes without spending the poison budget, answered
503 / UNAVAILABLE instead of 500 / INTERNAL; dead letters replayed to their own consumer only."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg.exceptions as pg
import grpc
import pytest
from prometheus_client import REGISTRY
from sqlalchemy.exc import DBAPIError, OperationalError

from steward.events.envelope import CloudEvent
from steward.kit import deadletters
from steward.kit.bus import DLQ_STREAM, EventBus
from steward.kit.clients.registry import RegistryUnavailable
from steward.kit.logs import ThrottledLogger
from steward.kit.outbox import build_event
from steward.kit.settings import ServiceSettings
from steward.kit.transient import is_transient


class _Orig(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _dbapi(sqlstate: str, *, invalidated: bool = False) -> DBAPIError:
    return DBAPIError("SELECT 1", {}, _Orig(sqlstate), connection_invalidated=invalidated)


def _rpc(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="x")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (TimeoutError(), True),
        (ConnectionRefusedError(111, "refused"), True),
        (OSError(101, "network unreachable"), True),
        (FileNotFoundError("template.docx"), False),
        (pg.CannotConnectNowError("the database system is starting up"), True),
        (pg.AdminShutdownError("terminating connection"), True),
        (_dbapi("57P01"), True),  # admin shutdown
        (_dbapi("08006"), True),  # connection failure
        (_dbapi("53300"), True),  # too many connections
        (_dbapi("40P01"), True),  # deadlock: nothing written, try again
        (_dbapi("23505"), False),  # unique violation: the same every time
        (_dbapi("22P02"), False),  # invalid input
        (_dbapi("", invalidated=True), True),
        (OperationalError("SELECT 1", {}, ConnectionResetError()), True),
        (_rpc(grpc.StatusCode.UNAVAILABLE), True),
        (_rpc(grpc.StatusCode.DEADLINE_EXCEEDED), True),
        (_rpc(grpc.StatusCode.INTERNAL), False),
        (_rpc(grpc.StatusCode.NOT_FOUND), False),
        (RegistryUnavailable("registry down"), True),
        (ValueError("bad event"), False),
        (KeyError("missing"), False),
    ],
)
def test_transient_classification(exc: BaseException, expected: bool) -> None:
    assert is_transient(exc) is expected


def test_a_wrapped_cause_counts() -> None:
    try:
        try:
            raise pg.CannotConnectNowError("starting up")
        except pg.CannotConnectNowError as inner:
            raise RuntimeError("could not load the project") from inner
    except RuntimeError as outer:
        assert is_transient(outer)


def test_throttled_logger_logs_once_per_interval_with_a_count() -> None:
    now = [0.0]
    throttled = ThrottledLogger(30.0, clock=lambda: now[0])
    logged = [throttled.warning("dep.down", key="db") for _ in range(1000)]
    assert logged.count(True) == 1
    now[0] = 31.0
    assert throttled.warning("dep.down", key="db") is True
    assert throttled._suppressed == {}  # the count was reported with the second line
    assert throttled.warning("dep.down", key="other") is True  # another kind is its own


async def _publish(bus: EventBus, kit: Any, tenant: str, n: int = 1) -> CloudEvent:
    event = build_event(kit.Pinged(n=n), tenant=tenant, source="kit-test")
    await bus.publish_event(
        subject=kit.Pinged.subject_for(tenant),
        body=event.model_dump_json(exclude_none=True).encode(),
        msg_id=event.id,
        headers={},
    )
    return event


async def test_transient_failures_never_spend_the_poison_budget(
    bus: EventBus, settings: ServiceSettings, js: Any, kit: Any, tenant: str
) -> None:
    consumer = f"kit_{uuid.uuid4().hex[:10]}"
    calls: list[str] = []
    done = asyncio.Event()

    async def handler(event: CloudEvent) -> None:
        calls.append(event.id)
        if len(calls) <= 8:  # the database is down for 8 deliveries: far more than max_deliver=3
            raise pg.CannotConnectNowError("the database system is starting up")
        done.set()

    sub = EventBus(settings)
    sub.transient_max_delay = 0.2
    sub.subscribe(f"steward.events.{tenant}.>", consumer=consumer, handler=handler, max_deliver=3)
    await sub.start()
    try:
        event = await _publish(bus, kit, tenant)
        await asyncio.wait_for(done.wait(), timeout=30)
        assert calls == [event.id] * 9
        assert await kit.count_messages(js, DLQ_STREAM, f"steward.dlq.{consumer}") == 0
        transient = REGISTRY.get_sample_value(
            "steward_events_consumed_total",
            {"service": settings.service_name, "consumer": consumer, "outcome": "transient"},
        )
        assert transient == 8
    finally:
        await sub.stop()


async def test_dead_letters_are_counted_and_replayed_to_their_consumer_only(
    bus: EventBus, settings: ServiceSettings, js: Any, kit: Any, tenant: str
) -> None:
    broken, bystander = f"kit_{uuid.uuid4().hex[:10]}", f"kit_{uuid.uuid4().hex[:10]}"
    fixed = asyncio.Event()
    seen: dict[str, list[int]] = {broken: [], bystander: []}
    handled = asyncio.Event()

    async def broken_handler(event: CloudEvent) -> None:
        seen[broken].append(event.data["n"])
        if not fixed.is_set():
            raise ValueError("a bug, fixed by the next release")
        handled.set()

    async def bystander_handler(event: CloudEvent) -> None:
        seen[bystander].append(event.data["n"])

    sub = EventBus(settings)
    sub.subscribe(f"steward.events.{tenant}.>", consumer=broken, handler=broken_handler, max_deliver=2)
    sub.subscribe(f"steward.events.{tenant}.>", consumer=bystander, handler=bystander_handler)
    await sub.start()
    try:
        await _publish(bus, kit, tenant, n=7)
        await kit.wait_for(
            lambda: kit.count_messages(js, DLQ_STREAM, f"steward.dlq.{broken}"),
            timeout=15,
            message="no dead letter",
        )
        assert (await deadletters.waiting(js)).get(broken) == 1
        [letter] = await deadletters.peek(js, broken)
        assert letter.reason == "ValueError: a bug, fixed by the next release"
        assert letter.subject == kit.Pinged.subject_for(tenant)
        assert seen[bystander] == [7]

        fixed.set()
        assert await deadletters.replay(js, broken) == 1
        await asyncio.wait_for(handled.wait(), timeout=15)
        assert seen[broken] == [7, 7, 7]  # two failures, then the replay
        assert broken not in await deadletters.waiting(js)
        await asyncio.sleep(0.5)
        assert seen[bystander] == [7], "a replay is for its own consumer only"
        assert await deadletters.replay(js, broken) == 0
    finally:
        await sub.stop()


async def test_retry_conflicts_runs_again_after_a_lost_race_only() -> None:
    from steward.kit.db import retry_conflicts

    calls: list[int] = []

    async def deadlocked_twice() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _dbapi("40P01")
        return "seeded"

    assert await retry_conflicts(deadlocked_twice, pause=0.0) == "seeded"
    assert len(calls) == 3

    async def broken() -> str:
        calls.append(1)
        raise _dbapi("23505")

    calls.clear()
    with pytest.raises(DBAPIError):
        await retry_conflicts(broken, pause=0.0)
    assert len(calls) == 1


async def test_retry_conflicts_runs_again_while_a_called_service_is_unavailable() -> None:
    from steward.kit.clients.registry import RegistryUnavailable
    from steward.kit.db import retry_conflicts
    from steward.kit.errors import NotFound

    calls: list[int] = []

    async def registry_busy_twice() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RegistryUnavailable("registry GetEffectiveRules failed: DEADLINE_EXCEEDED")
        return "seeded"

    assert await retry_conflicts(registry_busy_twice, pause=0.0) == "seeded"
    assert len(calls) == 3

    async def missing() -> str:
        calls.append(1)
        raise NotFound("no such tenant")

    calls.clear()
    with pytest.raises(NotFound):
        await retry_conflicts(missing, pause=0.0)
    assert len(calls) == 1

    async def always_busy() -> str:
        calls.append(1)
        raise RegistryUnavailable("down")

    calls.clear()
    with pytest.raises(RegistryUnavailable):
        await retry_conflicts(always_busy, attempts=3, pause=0.0)
    assert len(calls) == 3
