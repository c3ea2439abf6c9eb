"""Every state change is an event on steward.events.<tenant>.…, published through the outbox —
also when the registry dies between commit and publish."""

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
from sqlalchemy import text

from steward.devtools.infra import free_port, tail
from steward.kit.db import Database
from steward.registry.testing import SECRET, EventTap, Registry, Tree, create_project, make_tree, migrate


async def test_state_changes_emit_events(registry: Registry, tree: Tree, tap: EventTap) -> None:
    d = tree.districts[0]
    admin = registry.auth(d, "tenant_admin")
    p = (
        await create_project(
            registry,
            d,
            total_investment="3000万",
            planned_start="2026-03-01",
            annual_plan_investment="1200万",
        )
    ).json()
    await registry.http.post(
        f"/v1/projects/{p['id']}/transitions", json={"to_stage": "signed", "reason": "签约"}, headers=admin
    )
    await registry.http.patch(f"/v1/projects/{p['id']}", json={"name": "新名称"}, headers=admin)
    await registry.http.put(
        f"/v1/rules/{d}", json={"document": {"thresholds": {"platform_min": "600万"}}}, headers=admin
    )
    person = (await registry.http.post("/v1/people", json={"tenant": d, "name": "甲"}, headers=admin)).json()
    a = (
        await registry.http.post(
            f"/v1/projects/{p['id']}/roster",
            json={"role_key": "specialist", "person_id": person["id"]},
            headers=admin,
        )
    ).json()
    await registry.http.delete(f"/v1/projects/{p['id']}/roster/{a['id']}", headers=admin)
    events = await tap.collect(f"steward.events.{d}.>", expect=8)
    types = [e["type"] for e in events]
    assert (
        types
        == [
            "steward.tenant.created.v1",
            "steward.project.registered.v1",
            "steward.project.stage_changed.v1",
            "steward.project.updated.v1",
            "steward.rules.updated.v1",
            "steward.roster.assigned.v1",
            "steward.roster.unassigned.v1",
            "steward.roster.role_missing.v1",
        ][: len(types)]
        and len(types) >= 7
    )
    for e in events:
        assert e["tenant"] == d and e["specversion"] == "1.0" and e["source"] == "/steward/registry"
        assert e["_headers"]["Nats-Msg-Id"] == e["id"]
    registered = next(e for e in events if e["type"] == "steward.project.registered.v1")
    assert registered["data"]["code"] == p["code"] and registered["data"]["total_investment"] == "30000000.00"
    assert registered["subject"] == p["id"] and registered["actor"] == "tester"
    # what a warning light starts from travels with the event (scoring asks the registry nothing)
    plan = {
        k: registered["data"][k] for k in ("planned_start", "planned_completion", "annual_plan_investment")
    }
    assert plan == {
        "planned_start": "2026-03-01",
        "planned_completion": None,
        "annual_plan_investment": "12000000.00",
    }


async def test_failed_request_emits_nothing(registry: Registry, tree: Tree, tap: EventTap) -> None:
    d = tree.districts[1]
    r = await create_project(registry, d, total_investment="-1")
    assert r.status_code == 422
    events = await tap.collect(f"steward.events.{d}.project.>", expect=1, wait=1.0)
    assert events == []


def _spawn(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "steward.registry", "serve"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


async def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if proc.poll() is not None:
                raise AssertionError(f"registry exited: {tail(log)}")
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"registry not ready: {tail(log)}")


async def _pending(db: Database, code: str) -> int:
    async with db.read() as session:
        return int(
            (
                await session.execute(
                    text(
                        "SELECT count(*) FROM steward_outbox WHERE published_at IS NULL AND payload->'data'->>'code' = :c"
                    ),
                    {"c": code},
                )
            ).scalar_one()
        )


@pytest.mark.timeout(120)
async def test_event_survives_kill_between_commit_and_publish(
    make_database: Any, nats_url: str, tap: EventTap, tmp_path: Path
) -> None:
    """A registry killed with -9 after committing publishes the event after restart, exactly once;
    a publish repeated after a crash before the outbox row was marked is dropped by JetStream."""
    db_url = await asyncio.to_thread(lambda: migrate(make_database("registry_kill")))
    db = Database(db_url)
    tree = await make_tree(db)
    d = tree.districts[2]
    http_port = free_port()
    env = {
        **os.environ,
        "STEWARD_DATABASE_URL": db_url,
        "STEWARD_NATS_URL": nats_url,
        "STEWARD_HTTP_PORT": str(http_port),
        "STEWARD_GRPC_PORT": str(free_port()),
        "STEWARD_JWT_DEV_SECRET": SECRET,
        "STEWARD_OUTBOX_POLL_SECONDS": "0.2",
        # the first process never publishes: it dies with the event committed but unsent
        "STEWARD_OUTBOX_RELAY_ENABLED": "false",
    }
    url = f"http://127.0.0.1:{http_port}"
    log = tmp_path / "registry.log"
    proc = _spawn(env, log)
    try:
        await _wait_ready(url, proc, log)
        async with httpx.AsyncClient(base_url=url) as client:
            r = await client.post(
                "/v1/projects",
                json={"tenant": d, "name": "断电项目", "total_investment": "5000万"},
                headers=Registry.auth_header(d, "dispatcher"),
            )
            assert r.status_code == 201, r.text
            code = r.json()["code"]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    try:
        assert await _pending(db, code) == 1
        assert await tap.collect(f"steward.events.{d}.project.registered", expect=1, wait=0.5) == []
        env["STEWARD_OUTBOX_RELAY_ENABLED"] = "true"
        proc = _spawn(env, log)
        try:
            await _wait_ready(url, proc, log)
            events = await tap.collect(f"steward.events.{d}.project.registered", expect=1, wait=15)
            assert [e["data"]["code"] for e in events] == [code]
            # crash after publish, before the row was marked: the relay publishes it again …
            async with db.transaction() as session:
                await session.execute(
                    text("UPDATE steward_outbox SET published_at = NULL WHERE payload->'data'->>'code' = :c"),
                    {"c": code},
                )
            for _ in range(100):
                if await _pending(db, code) == 0:
                    break
                await asyncio.sleep(0.1)
            assert await _pending(db, code) == 0
            # … and JetStream drops the duplicate
            again = await tap.collect(f"steward.events.{d}.project.registered", expect=2, wait=2)
            assert [e["data"]["code"] for e in again] == [code]
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                raise
        assert proc.returncode == 0, tail(log)
    finally:
        await db.dispose()
