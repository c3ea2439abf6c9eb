"""`steward dev up` starts the services all at once; when another process took a chosen port in the
meantime, the taken one moves, every service's environment follows it, and all start again."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import httpx
import pytest
import typer

from steward.devtools import cli, runner
from steward.devtools.infra import free_port
from steward.devtools.services import SERVICES, ServiceSpec, service_env, service_urls

CONSOLE = next(
    s for s in SERVICES if s.name == "console"
)  # a workspace member; starts fast: no database, no bus


def _envs(specs: list[ServiceSpec]) -> dict[str, dict[str, str]]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
    return {
        spec.name: service_env(
            spec,
            database_url="",
            nats_url="nats://127.0.0.1:1",
            jwt_secret="test-secret-0123456789abcdef0123456789",
            registry_grpc_target="127.0.0.1:1",
            base={**base, **service_urls(specs)},
        )
        for spec in specs
    }


def test_a_taken_port_moves_and_the_service_starts_on_the_new_one(tmp_path: Path) -> None:
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    specs = [CONSOLE.with_ports(taken, 0)]
    envs = _envs(specs)
    procs = {}
    try:
        procs = cli._start_all(specs, envs, tmp_path, ready_timeout=60.0)
        moved = specs[0]
        assert moved.http_port != taken  # the list itself names the new port
        assert envs["console"]["STEWARD_HTTP_PORT"] == str(moved.http_port)
        assert envs["console"]["STEWARD_PUBLIC_URL"].endswith(f":{moved.http_port}")  # references follow
        time.sleep(2.0)  # still up once the threads that waited for it are gone (parent-death signal)
        assert procs["console"].poll() is None
        r = httpx.get(f"http://127.0.0.1:{moved.http_port}/readyz", timeout=5)
        assert r.status_code == 200
    finally:
        squatter.close()
        for name, proc in procs.items():
            runner.stop_service(name, proc)


def test_a_service_that_fails_for_another_reason_fails_the_start(tmp_path: Path) -> None:
    specs = [CONSOLE.with_ports(free_port(), 0)]
    envs = _envs(specs)
    envs["console"]["STEWARD_HTTP_PORT"] = "not-a-port"  # the settings refuse it: the process exits
    port = specs[0].http_port
    with pytest.raises(typer.Exit) as failed:
        cli._start_all(specs, envs, tmp_path, ready_timeout=30.0)
    assert failed.value.exit_code == 1
    assert specs[0].http_port == port  # not moved and not retried: only a taken port is
