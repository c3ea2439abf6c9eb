"""Killed with -9 at any point, a decision still becomes exactly one ``decision`` matter: the
meetings service runs as a real process (``python -m steward.meetings serve``) against the
in-process registry and issues services and killed the moment the matter appears in the issues
database (mid-way through the filing step: before or after its own commit); after the restart the
decision carries its one matter. (A kill before the filing, and a lost commit after it, are shown
deterministically in test_decisions_minutes.py.)"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from steward.devtools.infra import free_port, tail
from steward.issues.testing import Issues
from steward.kit.db import Database
from steward.meetings.testing import SECRET, auth, migrate
from steward.registry.testing import Registry, make_tree


def _spawn(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "steward.meetings", "serve"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


async def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if proc.poll() is not None:
                raise AssertionError(f"meetings exited: {tail(log)}")
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"meetings not ready: {tail(log)}")


def _kill(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


async def _scalar(db: Database, sql: str, **params: Any) -> Any:
    async with db.read() as session:
        return (await session.execute(sa.text(sql), params)).scalar()


@pytest.mark.timeout(150)
async def test_kill_9_mid_way_still_files_exactly_one_matter(
    make_database: Any, nats_url: str, registry: Registry, issues: Issues, tmp_path: Path
) -> None:
    issues.clock.reset()
    db_url = await asyncio.to_thread(lambda: migrate(make_database("meetings_kill")))
    db = Database(db_url)
    d = (await make_tree(registry)).districts[0]
    http_port = free_port()
    env = {
        **os.environ,
        "STEWARD_DATABASE_URL": db_url,
        "STEWARD_NATS_URL": nats_url,
        "STEWARD_HTTP_PORT": str(http_port),
        "STEWARD_GRPC_PORT": str(free_port()),
        "STEWARD_JWT_DEV_SECRET": SECRET,
        "STEWARD_REGISTRY_GRPC_TARGET": registry.grpc_target,
        "STEWARD_ISSUES_GRPC_TARGET": issues.grpc_target,
        "STEWARD_TIMER_POLL_SECONDS": "0.05",
        "STEWARD_LOG_JSON": "false",
    }
    url = f"http://127.0.0.1:{http_port}"
    log = tmp_path / "meetings.log"
    org = auth(d, "dispatcher")
    count = "SELECT count(*) FROM matters WHERE idempotency_key = :k"
    proc = _spawn(env, log)
    try:
        await _wait_ready(url, proc, log)
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            assert (await client.post("/v1/series/sync", json={"tenant": d}, headers=org)).status_code == 200
            await client.post(
                f"/v1/series/{(await client.get('/v1/series', params={'tenant': d}, headers=org)).json()['items'][0]['id']}/generate",
                headers=org,
            )
            m = (
                await client.get("/v1/meetings", params={"tenant": d, "upcoming_first": "true"}, headers=org)
            ).json()
            mid = next(x["id"] for x in m["items"] if x["status"] == "scheduled")
            r = await client.post(
                f"/v1/meetings/{mid}/decisions",
                json={"text": "断电后仍须只立一项", "responsible_unit_name": "发改局"},
                headers=org,
            )
            assert r.status_code == 201, r.text
            decision = r.json()["id"]
        key = f"decision:{decision}"
        for _ in range(1000):  # kill the moment the matter exists: mid-way through the filing step
            if await _scalar(issues.db, count, k=key):
                break
            await asyncio.sleep(0.005)
    finally:
        _kill(proc)
    try:
        assert await _scalar(issues.db, count, k=key) == 1
        proc = _spawn(env, log)
        try:
            await _wait_ready(url, proc, log)
            for _ in range(300):
                if await _scalar(
                    db, "SELECT matter_id FROM decisions WHERE id = CAST(:i AS uuid)", i=decision
                ):
                    break
                await asyncio.sleep(0.1)
            matter = await _scalar(
                db, "SELECT matter_id FROM decisions WHERE id = CAST(:i AS uuid)", i=decision
            )
            assert matter, tail(log)
            assert await _scalar(issues.db, count, k=key) == 1
            assert (
                await _scalar(
                    issues.db, "SELECT CAST(id AS text) FROM matters WHERE idempotency_key = :k", k=key
                )
                == matter
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                _kill(proc)
                raise
        assert proc.returncode == 0, tail(log)
    finally:
        await db.dispose()
