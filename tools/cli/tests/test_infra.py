"""Real local PostgreSQL / NATS servers: start, use, stop, leave nothing behind."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import nats
import psutil
import pytest

from steward.devtools import infra
from steward.devtools.infra import ExternalPostgres, LocalNats, LocalPostgres


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _no_process_mentions(fragment: str) -> bool:
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info.get("cmdline") or [])
        if fragment in cmdline:
            return False
    return True


def _wait_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
        time.sleep(0.1)
    return alive


async def test_local_postgres_lifecycle() -> None:
    t0 = time.monotonic()
    server = LocalPostgres(fast_unsafe=True).start()
    elapsed = time.monotonic() - t0
    print(f"PostgreSQL initdb+start: {elapsed:.2f}s {server.timings}")
    assert server.proc is not None
    base_dir, pid = server.base_dir, server.proc.pid
    assert base_dir is not None
    try:
        assert server.url("x") == f"postgresql+asyncpg://postgres@127.0.0.1:{server.port}/x"
        url = server.create_database("lifecycle_db")
        assert server.create_database("lifecycle_db") == url  # idempotent
        conn = await asyncpg.connect(_asyncpg_dsn(url))
        try:
            assert await conn.fetchval("SELECT current_database()") == "lifecycle_db"
            assert await conn.fetchval("SHOW server_encoding") == "UTF8"
            assert int(await conn.fetchval("SHOW max_connections")) == 200
            assert await conn.fetchval("SHOW fsync") == "off"
        finally:
            await conn.close()
        server.drop_database("lifecycle_db")
        conn = await asyncpg.connect(_asyncpg_dsn(server.url()))
        try:
            assert not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname='lifecycle_db'")
        finally:
            await conn.close()
    finally:
        server.stop()
    assert _wait_gone([pid]) == []
    assert _no_process_mentions(str(base_dir))
    assert not base_dir.exists()  # temporary dir removed


def _tmpfs_mounts() -> list[Path]:
    return [
        Path(fields[1])
        for fields in (line.split() for line in Path("/proc/mounts").read_text().splitlines())
        if len(fields) > 2 and fields[2] == "tmpfs" and os.access(fields[1], os.W_OK)
    ]


def test_memory_dir_is_a_tmpfs_with_room(tmp_path: Path) -> None:
    mounts = _tmpfs_mounts()
    assert mounts, "this machine has no writable tmpfs (/dev/shm is one on Debian)"
    for mount in mounts:
        assert infra.memory_dir(1, mount) == mount
        assert infra.memory_dir(1 << 62, mount) is None  # not that much room
    assert infra.memory_dir(1, tmp_path) is None  # a directory on disk, not a tmpfs mount
    assert infra.memory_dir(1, tmp_path / "missing") is None


def test_in_memory_server_keeps_its_data_in_a_tmpfs_and_removes_it() -> None:
    expected = infra.memory_dir() or Path(os.path.realpath(tempfile.gettempdir()))
    server = LocalPostgres(fast_unsafe=True, in_memory=True).start()
    base_dir = server.base_dir
    assert base_dir is not None
    try:
        assert base_dir.parent == expected
        databases = len(list((base_dir / "data" / "base").iterdir()))
        server.create_database("in_memory_db")
        assert len(list((base_dir / "data" / "base").iterdir())) == databases + 1
    finally:
        server.stop()
    assert not base_dir.exists()


async def test_persistent_data_dir_is_reused(tmp_path: Path) -> None:
    base = tmp_path / "persist" / "pg"
    first = LocalPostgres(base).start()
    try:
        url = first.create_database("keep")
        conn = await asyncpg.connect(_asyncpg_dsn(url))
        await conn.execute("CREATE TABLE t (v text); INSERT INTO t VALUES ('项目管家')")
        await conn.close()
        assert first.timings["initdb"] > 0.05
    finally:
        first.stop()
    assert (base / "data" / "PG_VERSION").exists()

    second = LocalPostgres(base).start()
    try:
        assert second.timings["initdb"] < 0.05  # reused, no initdb
        conn = await asyncpg.connect(_asyncpg_dsn(second.url("keep")))
        assert await conn.fetchval("SELECT v FROM t") == "项目管家"
        await conn.close()
    finally:
        second.stop()
    assert base.exists()  # persistent dir is kept


def test_second_server_on_same_data_dir_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "pg"
    with LocalPostgres(base, fast_unsafe=True), pytest.raises(infra.InfraError, match="already runs"):
        LocalPostgres(base).start()


async def test_local_nats_jetstream() -> None:
    server = LocalNats(monitor_port=0).start()
    assert server.proc is not None
    pid, base_dir = server.proc.pid, server.base_dir
    try:
        assert server.url == f"nats://127.0.0.1:{server.port}"
        nc = await nats.connect(server.url)
        try:
            js = nc.jetstream()
            info = await js.account_info()
            assert info.limits is not None
            await js.add_stream(name="TEST", subjects=["test.>"])
            ack = await js.publish("test.hello", b"hi")
            assert ack.stream == "TEST"
        finally:
            await nc.close()
        assert server.monitor_port
        with socket.create_connection(("127.0.0.1", server.monitor_port), timeout=2):
            pass
    finally:
        server.stop()
    assert _wait_gone([pid]) == []
    assert base_dir is not None and not base_dir.exists()


async def test_external_postgres_creates_databases(pg_server: infra.DatabaseServer) -> None:
    ext = ExternalPostgres(pg_server.url("postgres").replace("postgresql+asyncpg", "postgresql"))
    assert ext.url("abc").startswith("postgresql+asyncpg://")
    url = ext.create_database("ext_made")
    assert url.endswith("/ext_made")
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    assert await conn.fetchval("SELECT current_database()") == "ext_made"
    await conn.close()
    ext.drop_database("ext_made")


def test_env_overrides_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        infra.DATABASE_URL_ENV, "postgresql+asyncpg://u:p@db.example:6543/postgres?ssl=require"
    )
    monkeypatch.setenv(infra.NATS_URL_ENV, "nats://nats.example:4222")
    db = infra.database_server()
    assert isinstance(db, ExternalPostgres)
    assert (
        db.url("steward_registry") == "postgresql+asyncpg://u:p@db.example:6543/steward_registry?ssl=require"
    )
    assert infra.nats_server().url == "nats://nats.example:4222"


async def test_plugin_fixtures(make_database: Callable[..., str], nats_url: str) -> None:
    a, b = make_database("Registry-Tests"), make_database("registry-tests")
    assert a != b
    assert a.rsplit("/", 1)[1].startswith("registry_tests_")
    for url in (a, b):
        conn = await asyncpg.connect(_asyncpg_dsn(url))
        assert await conn.fetchval("SELECT 1") == 1
        await conn.close()
    nc = await nats.connect(nats_url)
    await nc.jetstream().account_info()
    await nc.close()


def test_free_port_is_bindable() -> None:
    port = infra.free_port()
    assert infra.port_is_free(port)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        assert not infra.port_is_free(port)


def test_free_ports_are_distinct_and_outside_the_ephemeral_range() -> None:
    """Outgoing connections take ports from the kernel's ephemeral range, so a port handed out there
    can be taken before its server listens; and a port is never handed out twice."""
    floor = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [infra.free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(1024 <= p < floor for p in ports)


def test_servers_die_with_a_killed_parent(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import json, sys, time
        from steward.devtools.infra import LocalNats, LocalPostgres
        pg = LocalPostgres(fast_unsafe=True).start()
        nt = LocalNats().start()
        print(json.dumps([pg.proc.pid, nt.proc.pid, str(pg.base_dir), str(nt.base_dir)]), flush=True)
        time.sleep(120)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        pg_pid, nats_pid, base_dir, nats_dir = json.loads(child.stdout.readline())
        assert psutil.pid_exists(pg_pid) and psutil.pid_exists(nats_pid)
    finally:
        child.kill()
        child.wait()
    assert _wait_gone([pg_pid, nats_pid]) == []
    assert _no_process_mentions(base_dir + "/data")
    # a killed parent cannot remove its temporary dirs; do it here
    shutil.rmtree(base_dir, ignore_errors=True)
    shutil.rmtree(nats_dir, ignore_errors=True)


def test_no_tests_collected_fails(tmp_path: Path) -> None:
    (tmp_path / "test_empty.py").write_text("x = 1\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "steward.devtools.pytest_plugin", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        check=False,
    )
    assert res.returncode == 1, res.stdout + res.stderr
    assert "no tests were collected" in res.stdout
