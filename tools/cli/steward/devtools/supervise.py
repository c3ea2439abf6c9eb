"""The dev runner's supervisor: a dead service, PostgreSQL or NATS is restarted with backoff (and
logged), children are reaped, a killed PostgreSQL's stale lock is recovered; the rest of the
platform keeps running meanwhile. Ctrl-C still stops everything (the runner's exit stack)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


class Proc(Protocol):
    def poll(self) -> int | None: ...

    @property
    def returncode(self) -> int | None: ...


@dataclass
class Child:
    """One supervised process. ``current`` returns its process (None: not running); ``restart``
    starts it again (blocking until it is ready) and returns notes on what it recovered."""

    name: str
    current: Callable[[], Proc | None]
    restart: Callable[[], list[str]]
    restarts: int = 0
    backoff: float = 0.0
    down_since: float | None = None
    next_try: float = 0.0
    up_since: float = field(default_factory=time.monotonic)


class Supervisor:
    def __init__(
        self,
        log: Callable[[str], None],
        *,
        min_backoff: float = 1.0,
        max_backoff: float = 30.0,
        stable_after: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = log
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.stable_after = stable_after
        self.clock = clock
        self.children: list[Child] = []

    def add(self, name: str, current: Callable[[], Proc | None], restart: Callable[[], list[str]]) -> Child:
        child = Child(name, current, restart, up_since=self.clock())
        self.children.append(child)
        return child

    def check(self) -> None:
        """One round: reap and restart what died (servers first: they are added first)."""
        for child in self.children:
            now = self.clock()
            proc = child.current()
            code = proc.poll() if proc is not None else -1  # poll() reaps a dead child
            if code is None:
                if child.down_since is None and now - child.up_since >= self.stable_after:
                    child.backoff = 0.0  # it stayed up: the next failure restarts at once again
                continue
            if child.down_since is None:
                child.down_since = now
                child.next_try = now + child.backoff
                self.log(f"{child.name} exited with code {code}; restarting" + _after(child.backoff))
            if now < child.next_try:
                continue
            try:
                notes = child.restart()
            except Exception as exc:
                child.backoff = min(self.max_backoff, max(self.min_backoff, child.backoff * 2))
                child.next_try = self.clock() + child.backoff
                self.log(f"{child.name} failed to restart ({exc}); next try{_after(child.backoff)}")
                continue
            child.restarts += 1
            child.down_since = None
            child.up_since = self.clock()
            child.backoff = min(self.max_backoff, max(self.min_backoff, child.backoff * 2))
            extra = f" ({'; '.join(notes)})" if notes else ""
            self.log(f"{child.name} restarted (restart #{child.restarts}){extra}")

    def run(self, interval: float = 0.5) -> None:
        """Supervise until interrupted (KeyboardInterrupt / the runner's SIGTERM handler)."""
        while True:
            self.check()
            time.sleep(interval)


def _after(seconds: float) -> str:
    return f" in {seconds:.0f}s" if seconds >= 1 else ""
