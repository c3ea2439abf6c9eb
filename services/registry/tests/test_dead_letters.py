"""Platform operations over REST: dead letters of every consumer, counted, read and replayed by
platform admins only (and the replay is in the audit trail)."""

from __future__ import annotations

import asyncio
import json
import uuid

from sqlalchemy import text

from steward.kit.bus import DLQ_PREFIX, DLQ_STREAM
from steward.registry.testing import Registry, Tree


async def test_dead_letters_are_listed_and_replayed_by_platform_admins_only(
    registry: Registry, tree: Tree
) -> None:
    consumer = f"ops_{uuid.uuid4().hex[:8]}"
    assert registry.runtime is not None
    js = registry.runtime.bus.js
    event = {"id": str(uuid.uuid4()), "type": "steward.project.registered.v1", "tenant": tree.city}
    await js.publish(
        f"{DLQ_PREFIX}.{consumer}",
        json.dumps(event).encode(),
        stream=DLQ_STREAM,
        headers={"Steward-Dlq-Reason": "KeyError: 'unit'", "Steward-Dlq-Subject": f"ops.{consumer}.nowhere"},
    )
    admin = registry.auth(tree.city, "platform_admin")
    district_admin = registry.auth(tree.districts[0], "tenant_admin")

    assert (await registry.http.get("/v1/dead-letters", headers=district_admin)).status_code == 403
    assert (await registry.http.get("/v1/dead-letters")).status_code == 401
    counts = (await registry.http.get("/v1/dead-letters", headers=admin)).json()["items"]
    assert {"consumer": consumer, "waiting": 1} in counts

    [letter] = (await registry.http.get(f"/v1/dead-letters/{consumer}", headers=admin)).json()["items"]
    assert letter["reason"] == "KeyError: 'unit'"
    assert letter["event_id"] == event["id"]
    bad = await registry.http.get("/v1/dead-letters/no%20spaces", headers=admin)
    assert bad.status_code == 422 and bad.json()["error"]["details"]

    # the original subject lies outside every stream here: the publish fails and nothing is lost
    failed = await registry.http.post(f"/v1/dead-letters/{consumer}/replay", headers=admin)
    assert failed.status_code == 409, failed.text
    assert failed.json()["error"]["code"] == "replay_failed"
    assert {"consumer": consumer, "waiting": 1} in (
        await registry.http.get("/v1/dead-letters", headers=admin)
    ).json()["items"]


async def test_a_replay_is_audited(registry: Registry, tree: Tree) -> None:
    consumer = f"ops_{uuid.uuid4().hex[:8]}"
    subject = f"steward.events.{tree.city}.project.replayed_{uuid.uuid4().hex[:6]}"
    assert registry.runtime is not None
    await registry.runtime.bus.js.publish(
        f"{DLQ_PREFIX}.{consumer}",
        b'{"id": "x"}',
        stream=DLQ_STREAM,
        headers={"Steward-Dlq-Reason": "ValueError: bug", "Steward-Dlq-Subject": subject},
    )
    admin = registry.auth(tree.city, "platform_admin")
    resp = await registry.http.post(f"/v1/dead-letters/{consumer}/replay", headers=admin)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"consumer": consumer, "replayed": 1}
    async with registry.db.read() as s:
        rows = (
            await s.execute(
                text(
                    "SELECT changes FROM steward_audit WHERE action = 'dead_letters.replayed' AND entity_id = :c"
                ),
                {"c": consumer},
            )
        ).all()
    assert [r[0] for r in rows] == [{"replayed": 1}]


async def test_steward_dlq_lists_shows_and_replays(registry: Registry, tree: Tree) -> None:
    from typer.testing import CliRunner

    from steward.devtools.cli import app

    consumer = f"ops_{uuid.uuid4().hex[:8]}"
    subject = f"steward.events.{tree.city}.project.cli_{uuid.uuid4().hex[:6]}"
    assert registry.runtime is not None
    await registry.runtime.bus.js.publish(
        f"{DLQ_PREFIX}.{consumer}",
        json.dumps({"id": "e-1", "type": "steward.project.registered.v1"}).encode(),
        stream=DLQ_STREAM,
        headers={"Steward-Dlq-Reason": "ValueError: bug", "Steward-Dlq-Subject": subject},
    )
    env = {"STEWARD_TOKEN": registry.token(tree.city, "platform_admin")}
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, ["dlq", *args, "--registry", registry.base_url], env=env)
        assert result.exit_code == 0, result.output
        return result.output

    assert f"{consumer}\t1" in await asyncio.to_thread(run, "list")
    assert "steward.project.registered.v1\te-1\tValueError: bug" in await asyncio.to_thread(
        run, "show", consumer
    )
    assert f"replayed 1 dead letter(s) of {consumer}" in await asyncio.to_thread(run, "replay", consumer)
    assert consumer not in await asyncio.to_thread(run, "list")

    denied = await asyncio.to_thread(
        runner.invoke,
        app,
        ["dlq", "list", "--registry", registry.base_url],
        env={"STEWARD_TOKEN": registry.token(tree.districts[0], "tenant_admin")},
    )
    assert denied.exit_code == 1
