"""The dev runner's service processes: start one and wait until the process it started (its
instance id) is ready, move it when another process took its port meanwhile, stop it, and
supervise every process until Ctrl-C (see steward.devtools.supervise)."""

from __future__ import annotations

import contextlib
import functools
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from rich.console import Console

from steward.devtools import infra
from steward.devtools.procs import free_port, tail
from steward.devtools.services import ServiceSpec
from steward.devtools.supervise import Supervisor

console = Console()


class NotReady(Exception):
    """A service did not become ready; ``port_taken``: another process held one of its ports."""

    def __init__(self, message: str, *, port_taken: bool = False, service: str = "") -> None:
        super().__init__(message)
        self.port_taken = port_taken
        self.service = service


def await_ready(
    spec: ServiceSpec, proc: subprocess.Popen[bytes], log: Path, timeout: float, instance: str
) -> None:
    """Wait for 200 on ``/readyz`` from the process we started (its instance id), not from whatever
    else answers on that port (another checkout's platform, say)."""
    url = f"http://127.0.0.1:{spec.http_port}/readyz"
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while True:
            if proc.poll() is not None:
                last = tail(log, 40).lower()  # uvicorn: "address already in use"; grpc: "failed to bind"
                taken = "address already in use" in last or "failed to bind to address" in last
                raise NotReady(
                    f"{spec.name} exited with code {proc.returncode} while starting", port_taken=taken
                )
            with contextlib.suppress(httpx.HTTPError, ValueError):
                response = client.get(url)
                if response.status_code == 200 and response.json().get("instance") == instance:
                    return
            if time.monotonic() > deadline:
                raise NotReady(f"{spec.name} did not answer 200 on {url} within {timeout:.0f}s")
            time.sleep(0.25)


def spawn_service(spec: ServiceSpec, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``python -m <module> serve``; its instance id (for :func:`await_ready`). Call it from a
    thread that outlives the service: the parent-death signal follows the thread that spawned it."""
    with log.open("ab") as out:
        out.write(f"\n=== python -m {spec.module} serve ===\n".encode())
    env = {**env, "STEWARD_INSTANCE_ID": secrets.token_hex(8)}  # each process its own
    proc = infra.spawn([sys.executable, "-m", spec.module, "serve"], log_path=log, env=env)
    return proc, env["STEWARD_INSTANCE_ID"]


def start_service(
    spec: ServiceSpec, env: dict[str, str], log: Path, timeout: float
) -> subprocess.Popen[bytes]:
    proc, instance = spawn_service(spec, env, log)
    try:
        await_ready(spec, proc, log, timeout, instance)
    except NotReady:
        infra.terminate(proc, sig=signal.SIGTERM, timeout=10.0)
        raise
    return proc


def each(specs: list[ServiceSpec], step: Callable[[ServiceSpec], object]) -> None:
    """``step`` for every service in parallel threads; the first failure is raised (after all end)."""
    with ThreadPoolExecutor(max_workers=max(1, len(specs))) as pool:
        futures = [pool.submit(step, spec) for spec in specs]
    for future in futures:
        future.result()


def _ready_or_not(
    spec: ServiceSpec, proc: subprocess.Popen[bytes], instance: str, log: Path, timeout: float
) -> subprocess.Popen[bytes] | NotReady:
    try:
        await_ready(spec, proc, log, timeout, instance)
    except NotReady as exc:
        infra.terminate(proc, sig=signal.SIGTERM, timeout=10.0)
        exc.service = spec.name
        return exc
    return proc


def start_all(
    specs: list[ServiceSpec], envs: dict[str, dict[str, str]], logs: Path, timeout: float
) -> dict[str, subprocess.Popen[bytes]]:
    """Start every service at once and wait for each ``/readyz``. When another process took a port
    meanwhile, every process is stopped, the taken ports are moved (``specs`` and every service's
    environment updated: they refer to each other) and all start again — at most three times; any
    other failure raises :class:`NotReady` (``.service`` names the service) at once."""
    for attempt in range(3):
        # spawned from this thread (a child's parent-death signal follows the thread that started it,
        # and the pool's threads end), then waited for side by side
        spawned = {
            spec.name: spawn_service(spec, envs[spec.name], logs / f"{spec.name}.log") for spec in specs
        }
        with ThreadPoolExecutor(max_workers=max(1, len(specs))) as pool:
            futures = {
                spec.name: pool.submit(
                    _ready_or_not, spec, *spawned[spec.name], logs / f"{spec.name}.log", timeout
                )
                for spec in specs
            }
        results = {name: future.result() for name, future in futures.items()}
        failed = {name: r for name, r in results.items() if isinstance(r, NotReady)}
        if not failed:
            return {name: r for name, r in results.items() if not isinstance(r, NotReady)}
        for name, result in results.items():
            if not isinstance(result, NotReady):
                stop_service(name, result)
        fatal = [exc for exc in failed.values() if not exc.port_taken]
        if fatal or attempt == 2:
            raise (fatal or list(failed.values()))[0]
        for i, spec in enumerate(specs):
            if spec.name in failed:
                specs[i] = move_ports(spec, envs)
    raise AssertionError("unreachable")


def move_ports(spec: ServiceSpec, envs: dict[str, dict[str, str]]) -> ServiceSpec:
    """Another process took a port between choosing and binding: pick new ones, and tell every
    service that reaches this one."""
    moved = spec.with_ports(free_port(), free_port())
    for env in envs.values():
        for key, value in env.items():
            value = value.replace(f"127.0.0.1:{spec.http_port}", f"127.0.0.1:{moved.http_port}")
            env[key] = value.replace(f"127.0.0.1:{spec.grpc_port}", f"127.0.0.1:{moved.grpc_port}")
    envs[spec.name]["STEWARD_HTTP_PORT"] = str(moved.http_port)
    envs[spec.name]["STEWARD_GRPC_PORT"] = str(moved.grpc_port)
    console.print(
        f"[yellow]{spec.name}: a port was taken meanwhile; moved to {moved.http_port}/{moved.grpc_port}[/]"
    )
    return moved


def stop_current(name: str, procs: dict[str, subprocess.Popen[bytes]]) -> None:
    """Stop the service's current process (the supervisor may have replaced the first one)."""
    stop_service(name, procs[name])


def stop_service(name: str, proc: subprocess.Popen[bytes]) -> None:
    console.print(f"stopping {name}…")
    infra.terminate(proc, sig=signal.SIGTERM, timeout=20.0)


def supervise(
    specs: list[ServiceSpec],
    procs: dict[str, subprocess.Popen[bytes]],
    envs: dict[str, dict[str, str]],
    logs: Path,
    db: infra.ExternalPostgres | infra.LocalPostgres,
    nats: infra.ExternalNats | infra.LocalNats,
    ready_timeout: float,
) -> None:
    """Block until interrupted, restarting whatever dies (servers first, then services)."""

    def log(line: str) -> None:
        console.print(f"[yellow]supervisor:[/] {line}", highlight=False)

    sup = Supervisor(log)
    if isinstance(db, infra.LocalPostgres):
        sup.add("postgres", lambda: db.proc, db.restart)
    if isinstance(nats, infra.LocalNats):
        sup.add("nats", lambda: nats.proc, nats.restart)
    for spec in specs:

        def restart(spec: ServiceSpec = spec) -> list[str]:
            procs[spec.name] = start_service(spec, envs[spec.name], logs / f"{spec.name}.log", ready_timeout)
            return []

        sup.add(spec.name, functools.partial(procs.get, spec.name), restart)
    sup.run()
