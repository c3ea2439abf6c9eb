"""Transactions that contend for one row, put in line in the process first.

A number is taken from a counter row per tenant and year (a matter's 编号, a project's 一项一码):
the transaction that takes one holds that row's lock until it ends, so a tenant's concurrent
filings wait for each other — as they must, for numbers without gaps. PostgreSQL does not serve
such waiters in arrival order: when the holder ends, the waiters race for the row, and under load
some of them lose many times. Measured with eight clients filing into one tenant (issue 15): on
average 5.4 of the 8 transactions were waiting on the counter's row lock, and one filing in five
took over 100 ms in the service while the median was 40 ms.

:class:`KeyQueue` makes the wait a first-come, first-served queue inside the process: one
transaction per key goes on to the row at a time, the next in line when it has committed or rolled
back. A transaction that has to wait sends its BEGIN first, so that its turn starts with the
statement that locks the row (as it did waiting in PostgreSQL). Each takes its pooled connection
before it gets in line: the transaction whose turn it is then never waits for a connection that
those behind it hold (connection first, key second, the same order for all: no cycle). Turns follow
the order in which they got their connections and came to the queue. PostgreSQL's lock still orders
replicas against each other, and everything this queue lets pass.

:meth:`KeyQueue.turn` is the same line for a statement that takes the number and commits on its own
(sent alone: ``kit.writes.batched(last=True)`` with a ``kit.writes.Taken``): the turn ends with the
statement, and ``width`` of them may be at the row at once (the row is then locked only while one
statement runs, and a few in PostgreSQL at once keep it busy; many only wait on its lock there).

It applies only to a session of :meth:`steward.kit.db.Database.transaction` (which tells it when
the transaction ended); any other session goes straight to PostgreSQL. A transaction that already
holds another key goes straight on too, and a wait that lasts longer than ``patience`` gives up its
place in line: the database sees and breaks a deadlock between row locks, but not one that would
pass through this queue.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Any

from steward.kit.db import TRANSACTION_ENDS
from steward.kit.straight import begin_now, held_connection, take_connection

_HELD = "steward_keyqueue_held"  # session.info: the key this transaction holds


class _Line:
    """One key's line: how many hold the key, and the turns of those waiting, in arrival order
    (plain futures: no task and no lock per waiter on the hot path)."""

    __slots__ = ("active", "users", "waiting")

    def __init__(self) -> None:
        self.active = 0
        self.users = 0
        self.waiting: deque[asyncio.Future[None]] = deque()

    def pass_on(self) -> None:
        """The holder is done: the turn goes to the first one still waiting, else the line is free."""
        while self.waiting:
            turn = self.waiting.popleft()
            if not turn.done():
                turn.set_result(None)  # the place is that one's now
                return
        self.active -= 1


class KeyQueue:
    """``await queue.enter(session, key)`` before the statement that locks ``key``'s row."""

    def __init__(self, *, patience: float = 2.0, width: int = 1) -> None:
        self.patience = patience
        self.width = width  # how many may hold a key at once
        self._lines: dict[Hashable, _Line] = {}

    def __len__(self) -> int:
        """Keys with a transaction holding or waiting for them now."""
        return len(self._lines)

    async def enter(self, session: Any, key: Hashable) -> bool:
        """Wait for ``key``'s turn; True when the transaction now holds it here until it ends."""
        info = session.info
        ends: list[Callable[[], None]] | None = info.get(TRANSACTION_ENDS)
        if ends is None:
            return False  # not told when the transaction ends: PostgreSQL alone orders it
        held: Hashable | None = info.get(_HELD)
        if held is not None:
            return held == key  # held already, or another key: no second wait (see above)
        # the connection before the place in line: the holder of a key must never wait for the
        # pool while the transactions behind it hold every connection (32 clients filing into one
        # tenant, the pool's 20 connections held by those in line: 8 filings/s, p99 4 s)
        await held_connection(session)
        # the turn starts at the statement that locks the row: BEGIN goes while waiting
        line = await self._in_line(key, lambda: begin_now(session))
        if line is None:
            return False  # waited long enough: on to the row, where PostgreSQL orders it
        info[_HELD] = key

        def end() -> None:
            line.pass_on()
            self._leave(key, line)

        ends.append(end)
        return True

    @asynccontextmanager
    async def turn(self, session: Any, key: Hashable) -> AsyncIterator[bool]:
        """``key``'s turn for the block: the statement that locks the row and commits on its own
        (sent alone: ``kit.writes.batched(last=True)``); the next in line goes on when the block
        ends, not when the transaction does. True when the turn was given, False when the wait
        outlasted ``patience``. The connection is taken first, as :meth:`enter` takes it."""
        await take_connection(session)
        line = await self._in_line(key, None)
        if line is None:
            yield False
            return
        try:
            yield True
        finally:
            line.pass_on()
            self._leave(key, line)

    async def _in_line(self, key: Hashable, meanwhile: Callable[[], Awaitable[None]] | None) -> _Line | None:
        """``key``'s line once it is this one's turn (at once when fewer than ``width`` hold it),
        None when the wait outlasted ``patience``."""
        line = self._lines.get(key)
        if line is None:
            line = self._lines[key] = _Line()
        line.users += 1
        if line.active < self.width:
            line.active += 1  # free: taken without suspending
            return line
        return line if await self._wait(key, line, meanwhile) else None

    async def _wait(
        self, key: Hashable, line: _Line, meanwhile: Callable[[], Awaitable[None]] | None
    ) -> bool:
        """In ``key``'s line until its turn (True), or ``patience`` (False: out of the line)."""
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        line.waiting.append(turn)  # in line from here, in arrival order
        try:
            if meanwhile is not None:
                await meanwhile()
            async with asyncio.timeout(self.patience):
                await turn
        except BaseException as exc:
            if turn.done() and not turn.cancelled():
                line.pass_on()  # the turn came as the wait ended: it goes on to the next
            else:
                turn.cancel()
                with contextlib.suppress(ValueError):  # pass_on may have dropped it already
                    line.waiting.remove(turn)
            self._leave(key, line)
            if isinstance(exc, TimeoutError):
                return False
            raise
        return True

    def _leave(self, key: Hashable, line: _Line) -> None:
        line.users -= 1
        if not line.users:
            del self._lines[key]
