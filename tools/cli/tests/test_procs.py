"""Children started as another user (PostgreSQL's tools when the tests run as root) next to a busy
gRPC client in the same process: CPython forks for a user switch, and gRPC's fork handler then
crashed about one child in three before exec (SIGSEGV; the failover test once saw
``pg_ctl promote failed (-11)``). :func:`procs.as_user` switches in ``setpriv`` after exec."""

from __future__ import annotations

import asyncio
import os
import subprocess

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from steward.devtools import procs

NOBODY = {"user": 65534, "group": 65534, "extra_groups": []}
# as the local servers switch: as root to a system user (CI runs as root), otherwise not at all
RUN_AS = NOBODY if os.geteuid() == 0 else None
CHILDREN = 60


def test_the_switch_leaves_no_keywords_for_subprocess_and_runs_as_the_user() -> None:
    assert procs.as_user(["true"], NOBODY)[1] == {}  # no user=/group=: CPython may vfork
    args, keywords = procs.as_user(["sh", "-c", "id -u; id -g; id -G"], RUN_AS)
    assert keywords == {}
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout.split()
    if RUN_AS is not None:
        assert out == ["65534", "65534", "65534"]  # no supplementary group of root's left
    else:
        assert out[:2] == [str(os.getuid()), str(os.getgid())]


def test_no_switch_no_prefix() -> None:
    assert procs.as_user(["true"], None) == (["true"], {})


async def test_children_run_as_another_user_while_grpc_calls_are_in_flight() -> None:
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub = health_pb2_grpc.HealthStub(channel)

    async def calls() -> None:
        while True:
            await stub.Check(health_pb2.HealthCheckRequest())

    busy = asyncio.create_task(calls())
    try:
        failed = []
        for _ in range(CHILDREN):
            args, keywords = procs.as_user(["true"], RUN_AS)
            res = await asyncio.to_thread(subprocess.run, args, capture_output=True, **keywords)
            if res.returncode != 0:
                failed.append(res.returncode)
        assert failed == [], f"{len(failed)} of {CHILDREN} children died before their program ran"
    finally:
        busy.cancel()
        await channel.close()
        await server.stop(None)
