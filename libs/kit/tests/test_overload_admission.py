"""The overload gate's admission (issue 15, goal 2): the places the HTTP server holds for the
requests it lets through, and the pace at which waiters reach a slot, so that a request that would
wait out the queue's budget is refused on arrival instead of after it."""

from __future__ import annotations

import asyncio
import time

import pytest

from steward.kit import overload
from steward.kit.overload import Gate


def test_a_request_that_would_wait_out_the_budget_is_refused_on_arrival() -> None:
    gate = Gate(1, queue_seconds=0.1, max_waiting=50)
    gate.active = 1
    gate.pace = 0.03  # a request has been finishing every 30 ms while others waited
    gate._paced_at = time.monotonic()
    assert [gate.reserve() for _ in range(4)] == [True, True, True, False]  # the 4th: 120 ms ahead
    assert gate.refused == 1
    slow = Gate(1, queue_seconds=0.1, max_waiting=5)
    slow.active = 1  # no pace measured yet: the queue's length alone bounds it
    assert [slow.reserve() for _ in range(6)] == [True] * 5 + [False]


def test_places_held_by_the_server_count_until_their_requests_reach_the_gate() -> None:
    gate = Gate(2, queue_seconds=1.0, max_waiting=2)
    # read in one turn of the event loop: none of these is at the gate yet
    assert [gate.reserve() for _ in range(5)] == [True, True, True, True, False]
    assert gate.active == 0 and gate.waiting == 0


def test_a_held_place_whose_request_never_came_is_let_go(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(overload.time, "monotonic", lambda: now[0])
    gate = Gate(1, queue_seconds=0.0)
    assert gate.reserve() and not gate.reserve()
    now[0] += overload.RESERVED_SECONDS + 0.1
    assert gate.reserve()


async def test_a_request_with_a_place_held_waits_where_another_is_refused() -> None:
    gate = Gate(1, queue_seconds=2.0, max_waiting=1)
    assert await gate.acquire()
    assert gate.reserve()  # the one waiting place, held by the server
    assert await gate.acquire() is False  # a request without a place: the queue is taken
    waiter = asyncio.create_task(gate.acquire(reserved=True))
    await asyncio.sleep(0.01)
    assert gate.waiting == 1 and not waiter.done()
    gate.release()
    assert await waiter is True and gate.active == 1


async def test_the_pace_is_measured_while_requests_wait_and_not_across_an_idle_spell() -> None:
    gate = Gate(1, queue_seconds=10.0, max_waiting=10)

    async def round_of(n: int) -> None:
        assert await gate.acquire()
        waiters = [asyncio.create_task(gate.acquire()) for _ in range(n)]
        await asyncio.sleep(0.01)
        for _ in range(n):
            await asyncio.sleep(0.02)
            gate.release()  # one finishes every 20 ms, the next waiter takes its slot
        assert all(await asyncio.gather(*waiters))
        gate.release()

    await round_of(5)
    assert 0.015 < gate.pace < 0.2
    await asyncio.sleep(1.0)  # nothing waits: no pace is measured over this (it would add ~60 ms)
    await round_of(3)
    assert 0.015 < gate.pace < 0.06


def test_a_stall_moves_the_pace_a_little_and_a_second_without_a_queue_forgets_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(overload.time, "monotonic", lambda: now[0])
    gate = Gate(1, queue_seconds=0.1, max_waiting=10)
    gate.active = 1
    gate._waiters.extend([object(), object()])  # type: ignore[list-item]  # two wait: releases are timed
    for gap in (0.004, 0.004, 10.0):  # two quick completions, then a ten-second stall
        now[0] += gap
        gate.active += 1
        gate.release()
    assert 0.004 <= gate.pace <= 0.004 + 0.1 / 16 + 1e-9  # the stall counted as one budget at most
    gate._waiters.clear()
    gate.active = 0
    now[0] += 0.5
    assert gate.reserve() and gate.pace > 0  # half a second without a queue: still known
    now[0] += overload.RECOVERED_SECONDS  # then more than a second since anybody waited
    assert gate.reserve() and gate.pace == 0.0
