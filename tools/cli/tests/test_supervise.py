"""The dev runner supervises: a dead service or server is restarted with backoff and logged, a
killed PostgreSQL's stale lock is recovered, children are reaped."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from steward.devtools.infra import LocalNats, LocalPostgres
from steward.devtools.natsinfra import _nats_info
from steward.devtools.supervise import Supervisor


class Sleeper:
    """A real child process the test kills."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> list[str]:
        self.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        self.starts += 1
        return []

    def current(self) -> subprocess.Popen[bytes] | None:
        return self.proc

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def sleeper() -> Iterator[Sleeper]:
    s = Sleeper()
    s.start()
    yield s
    s.stop()


def test_a_killed_service_is_reaped_restarted_and_logged(sleeper: Sleeper) -> None:
    lines: list[str] = []
    sup = Supervisor(lines.append)
    sup.add("notify", sleeper.current, sleeper.start)
    sup.check()
    assert sleeper.starts == 1 and lines == []
    assert sleeper.proc is not None
    first = sleeper.proc
    first.send_signal(signal.SIGKILL)
    first.wait()  # the supervisor's poll() reaps it in the runner; here wait() makes the test exact
    sup.check()
    assert sleeper.starts == 2
    assert lines == ["notify exited with code -9; restarting", "notify restarted (restart #1)"]
    assert sleeper.proc is not first and sleeper.proc.poll() is None


def test_a_crash_loop_backs_off_and_a_stable_run_resets_it() -> None:
    now = [0.0]
    lines: list[str] = []
    restarts: list[float] = []

    class Dead:
        returncode = 1

        def poll(self) -> int:
            return 1

    class Alive:
        returncode = None

        def poll(self) -> None:
            return None

    state: dict[str, object] = {"proc": Dead()}

    def restart() -> list[str]:
        restarts.append(now[0])
        return []

    sup = Supervisor(lines.append, min_backoff=1, max_backoff=8, stable_after=60, clock=lambda: now[0])
    sup.add("scoring", lambda: state["proc"], restart)  # type: ignore[arg-type,return-value]
    for _ in range(400):  # it keeps dying right after each restart for 40 s
        sup.check()
        now[0] += 0.1
    gaps = [b - a for a, b in itertools.pairwise(restarts)]
    assert restarts[0] == 0.0  # the first restart is immediate
    # then 1, 2, 4, … s (plus the 0.1 s rounds it takes to notice), capped at 8
    assert gaps[:4] == pytest.approx([1.0, 2.0, 4.0, 8.0], abs=0.25)
    assert gaps[4:] == pytest.approx([8.0] * len(gaps[4:]), abs=0.25)
    state["proc"] = Alive()
    now[0] += 61
    sup.check()  # stable for a minute: the backoff is forgotten
    state["proc"] = Dead()
    before = len(restarts)
    sup.check()
    assert len(restarts) == before + 1


@pytest.fixture
def base_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="steward-sup-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_killed_postgres_restarts_on_its_port_and_its_stale_lock_is_recovered(base_dir: Path) -> None:
    pg = LocalPostgres(base_dir, fast_unsafe=True)
    pg.start()
    try:
        port = pg.port
        assert pg.proc is not None
        lines: list[str] = []
        sup = Supervisor(lines.append)
        sup.add("postgres", lambda: pg.proc, pg.restart)
        os.kill(pg.proc.pid, signal.SIGKILL)  # the postmaster only: its backends stay behind
        pg.proc.wait()
        assert (pg.data_dir / "postmaster.pid").exists()  # the lock a kill -9 leaves behind
        sup.check()
        assert pg.port == port and pg._ready()
        assert lines[0] == "postgres exited with code -9; restarting"
        assert lines[1].startswith("postgres restarted (restart #1)") and "postmaster.pid" in lines[1]

        # a runner killed with its server: the next start on the same data dir recovers by itself
        os.kill(pg.proc.pid, signal.SIGKILL)
        pg.proc.wait()
        pg.proc = None
        again = LocalPostgres(base_dir, fast_unsafe=True)
        again.start()
        try:
            assert again._ready()
        finally:
            again.stop()
    finally:
        pg.stop()


def test_a_killed_nats_restarts_on_its_port(base_dir: Path) -> None:
    nats = LocalNats(base_dir)
    nats.start()
    try:
        port = nats.port
        assert nats.proc is not None
        lines: list[str] = []
        sup = Supervisor(lines.append)
        sup.add("nats", lambda: nats.proc, nats.restart)
        nats.proc.kill()
        nats.proc.wait()
        sup.check()
        assert nats.port == port and _nats_info(port)
        assert lines == ["nats exited with code -9; restarting", "nats restarted (restart #1)"]
    finally:
        nats.stop()
