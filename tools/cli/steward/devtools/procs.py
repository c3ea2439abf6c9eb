"""Process and port helpers for the local servers and the dev runner.

Children run in their own session and get a parent-death signal (Linux), so they never outlive the
Python process that started them, even when it is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Self, TypeVar

HOST = "127.0.0.1"
_T = TypeVar("_T")


class InfraError(RuntimeError):
    """A local server could not be started."""


_GIVEN: set[int] = set()  # ports this process handed out: never twice (a server may not bind them yet)


def _ephemeral_floor() -> int:
    """The lowest port the kernel picks for outgoing connections (and for a bind to port 0)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host: str = HOST) -> int:
    """A TCP port that is free right now on ``host``, below the kernel's ephemeral range and not
    handed out before by this process. A port from a bind to port 0 lies in that range, where any
    outgoing connection (a client of the database, a test's HTTP call) may take it before the server
    meant to listen there starts — seen as "address already in use" from a NATS cluster node."""
    floor = _ephemeral_floor()
    low = max(1024, floor - 20000)
    for _ in range(200):
        port = random.randrange(low, floor) if floor > low else 0
        if port in _GIVEN:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            port = int(sock.getsockname()[1])
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port
    raise InfraError(f"no free port on {host}")


def port_is_free(port: int, host: str = HOST) -> bool:
    """True when a server could listen on ``port`` (SO_REUSEADDR, like uvicorn/grpc: TIME_WAIT is ok)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


_SETPRIV = shutil.which("setpriv") if sys.platform.startswith("linux") else None
RunAs = dict[str, Any]  # subprocess ``user``/``group``/``extra_groups``


def as_user(
    args: list[str], run_as: RunAs | None, *, death_signal: int | None = None
) -> tuple[list[str], RunAs]:
    """``args`` and the subprocess keywords that run them as ``run_as``'s user and group, with
    ``death_signal`` sent to the child when this process dies (Linux).

    The switch is made by ``setpriv`` (util-linux) after exec, not by subprocess's ``user``/``group``
    arguments: those make CPython fork (not vfork) and run the parent's fork handlers in the child,
    and gRPC's handler in a child of this multithreaded process crashed it (SIGSEGV before exec,
    ``pg_ctl promote failed (-11)`` with a gRPC poller error on its stderr). setpriv sets the
    parent-death signal after the switch, which would otherwise clear it. No ``preexec_fn`` either,
    for the same reason. Without setpriv the keywords are returned for subprocess to apply."""
    if _SETPRIV is None:
        return args, dict(run_as or {})
    prefix: list[str] = []
    if death_signal is not None:
        prefix += ["--pdeathsig", signal.Signals(death_signal).name.removeprefix("SIG")]
    if run_as:
        prefix += [f"--reuid={run_as['user']}", f"--regid={run_as['group']}"]
        groups = run_as.get("extra_groups") or []
        prefix += [f"--groups={','.join(map(str, groups))}"] if groups else ["--clear-groups"]
    return ([_SETPRIV, *prefix, "--", *args] if prefix else args), {}


def spawn(
    args: list[str],
    *,
    log_path: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    death_signal: int = signal.SIGTERM,
    run_as: RunAs | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-running child in its own session, output appended to ``log_path``, signalled
    with ``death_signal`` when this process dies; ``run_as`` drops privileges (:func:`as_user`)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    args, keywords = as_user(args, run_as, death_signal=death_signal)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            user=keywords.get("user"),
            group=keywords.get("group"),
            extra_groups=keywords.get("extra_groups"),
        )


def terminate(proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
    """Signal ``proc``, wait up to ``timeout``, then SIGKILL whatever is left of its process group."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # the group id is the child's pid (own session)


def run_sync(factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine in a private thread + loop: safe even while an event loop is running."""
    with ThreadPoolExecutor(1, thread_name_prefix="steward-infra") as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


class ServerBase:
    """Base dir handling shared by the local servers; ``None`` = temporary dir removed on stop."""

    _prefix = "steward-"
    _log_name = "server.log"

    def __init__(self, base_dir: Path | str | None, log_path: Path | None) -> None:
        self._temporary = base_dir is None
        self.temp_parent: Path | None = None  # where a temporary base dir is made (None: the system's)
        self.base_dir = Path(base_dir).resolve() if base_dir is not None else None
        self._log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def log_path(self) -> Path:
        assert self.base_dir is not None, "start() first"
        return self._log_path or self.base_dir / self._log_name

    def _make_base_dir(self) -> Path:
        if self.base_dir is None:
            self.base_dir = Path(tempfile.mkdtemp(prefix=self._prefix, dir=self.temp_parent))
        self.base_dir.mkdir(parents=True, exist_ok=True)
        return self.base_dir

    def _stop_proc(self, sig: int, timeout: float) -> None:
        if self.proc is not None:
            terminate(self.proc, sig=sig, timeout=timeout)
            self.proc = None
        if self._temporary and self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
