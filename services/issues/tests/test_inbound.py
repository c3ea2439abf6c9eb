"""The inbound interface (docs/inbound.md): a fake approval system signs and POSTs over HTTP on
loopback to a running issues replica configured with its secret; each message kind is applied as an
agent's change (with its event), a duplicate changes nothing, an unknown project or an illegal
transition is refused with a 4xx and writes nothing, bad signatures and stale timestamps are 401,
and a bulk answers per message."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from steward.issues.testing import Issues, auth, local, migrate, running_issues
from steward.kit.inbound import sign
from steward.registry.testing import EventTap, Registry, Tree, create_project, make_tree

SECRET = "approval-system-shared-secret-0123"
# rows the sending systems wrote in the test's own tenants (a fresh tree per test): a refused message
# must add none; the service's own timers and consumers (actor not "system:…") may write meanwhile
COUNTED = {
    "matter_history": "SELECT count(*) FROM matter_history h JOIN matters m ON m.id = h.matter_id "
    "WHERE m.tenant_code LIKE :t AND h.actor LIKE 'system:%'",
    "procedure_submissions": "SELECT count(*) FROM procedure_submissions WHERE tenant_code LIKE :t",
    "steward_outbox": "SELECT count(*) FROM steward_outbox WHERE tenant LIKE :t "
    "AND payload->>'actor' LIKE 'system:%'",
    "steward_audit": "SELECT count(*) FROM steward_audit WHERE tenant LIKE :t AND actor LIKE 'system:%'",
}


@dataclass
class ApprovalSystem:
    """The other side: signs each request body with its shared secret and POSTs it."""

    name: str
    secret: str
    http: httpx.AsyncClient

    async def post(
        self, path: str, body: Any, *, timestamp: int | None = None, secret: str | None = None
    ) -> httpx.Response:
        raw = json.dumps(body, ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            "Steward-System": self.name,
            "Steward-Signature": sign(secret or self.secret, raw, timestamp=timestamp),
        }
        return await self.http.post(path, content=raw, headers=headers)

    async def send(self, msg: dict[str, Any], **kw: Any) -> httpx.Response:
        return await self.post("/v1/inbound/procedures", msg, **kw)


@dataclass
class Setup:
    issues: Issues
    tree: Tree
    system: ApprovalSystem


@pytest.fixture
async def inbound(registry: Registry, make_database: Any, nats_url: str) -> AsyncIterator[Setup]:
    # its own database: the suite's long-running issues service sweeps the shared one on its own clock,
    # and would fire this pinned-clock test's timers (rows appearing while a refusal is counted)
    issues_db_url = await asyncio.to_thread(migrate, make_database("issues_inbound"))
    tree = await make_tree(registry)
    systems = {
        "approval": {"secret": SECRET, "tenant": tree.city, "name_zh": "政务服务审批系统"},
        "district-approval": {"secret": SECRET + "-d0", "tenant": tree.districts[0]},
    }
    async with running_issues(issues_db_url, nats_url, registry.grpc_target, inbound_systems=systems) as svc:
        svc.clock.set(local(2026, 11, 2, 10))  # a Monday
        yield Setup(svc, tree, ApprovalSystem("approval", SECRET, svc.http))


async def _file(svc: Issues, registry: Registry, d: str) -> dict[str, Any]:
    p = (await create_project(registry, d, total_investment="2亿")).json()
    body = {
        "project_id": p["id"],
        "level1_agent": "一级代办员张三",
        "procedures": [
            {"code": "filing", "level2_agent": "发改局李四"},
            {"code": "construction_permit", "level2_agent": "住建局王五"},
        ],
    }
    r = await svc.http.post("/v1/procedure-files", json=body, headers=auth(d, "agent", sub="agent-zhang"))
    assert r.status_code == 201, r.text
    return r.json()


async def _counts(svc: Issues, tree: Tree) -> dict[str, int]:
    tenants = tree.city[:4] + "%"
    async with svc.db.read() as session:
        return {
            name: (await session.execute(text(sql), {"t": tenants})).scalar_one()
            for name, sql in COUNTED.items()
        }


async def _log(svc: Issues, message_id: str) -> list[tuple[str, int, str | None]]:
    async with svc.db.read() as session:
        rows = await session.execute(
            text("SELECT result, status, error_code FROM procedure_inbound_messages WHERE message_id = :m"),
            {"m": message_id},
        )
        return [tuple(r) for r in rows.all()]


def _msg(kind: str, project: str, procedure: str, **extra: Any) -> dict[str, Any]:
    return {
        "message_id": f"APR-{uuid.uuid4().hex[:12]}",
        "kind": kind,
        "project_code": project,
        "procedure_code": procedure,
        **extra,
    }


async def test_each_approval_message_is_applied_once_with_its_event(
    inbound: Setup, registry: Registry, tap: EventTap
) -> None:
    svc, system, d = inbound.issues, inbound.system, inbound.tree.districts[2]
    f = await _file(svc, registry, d)
    code, filing = f["project_code"], f["procedures"][0]
    agent = auth(d, "agent")

    # returned with corrections: the materials received at the sender are recorded, ONE notice given
    returned = _msg("procedure.returned", code, "filing", corrections=["缺少营业执照副本", "估算表未盖章"])
    r = await system.send(returned)
    assert r.status_code == 200, r.text
    assert r.json()["result"] == "applied" and r.json()["target"]["paused"] is True
    got = (await svc.http.get(f"/v1/matters/{filing['id']}", headers=agent)).json()
    assert got["paused"] is True

    # accepted: the corrections are in, the procedure is in progress
    r = await system.send(_msg("procedure.accepted", code, "filing", materials=["全部补正材料"]))
    assert r.status_code == 200 and r.json()["target"]["status"] == "in_progress", r.text

    # approved with the licence number, delivered twice: the procedure changes once
    approved = _msg("procedure.approved", code, "filing", licence_no="川投资备〔2026〕0042号")
    r = await system.send(approved)
    assert r.status_code == 200 and r.json()["result"] == "applied", r.text
    assert r.json()["target"]["status"] == "closed"
    before = await _counts(svc, inbound.tree)
    again = await system.send(approved)
    assert again.status_code == 200 and again.json()["result"] == "duplicate"
    assert again.json()["target"] == r.json()["target"]
    assert await _counts(svc, inbound.tree) == before
    assert await _log(svc, approved["message_id"]) == [("applied", 200, None)]
    got = (await svc.http.get(f"/v1/matters/{filing['id']}", headers=agent)).json()
    assert got["status"] == "closed" and got["details"]["licence_no"] == "川投资备〔2026〕0042号"
    assert "0042" in got["resolution"]

    # the same id with another body is not a duplicate but a mistake of the sender
    r = await system.send({**approved, "licence_no": "另一个文号"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "message_id_reused"

    # the events are those of an agent's own changes
    notices = await tap.collect(f"steward.events.{d}.procedure.notice_issued", expect=1)
    mine = [e["data"] for e in notices if e["data"]["file_id"] == f["id"]]
    assert [n["items"] for n in mine] == [["缺少营业执照副本", "估算表未盖章"]]
    assert {e["source"] for e in notices} == {"/steward/issues"}
    completed = await tap.collect(f"steward.events.{d}.procedure.completed", expect=1)
    mine = [e for e in completed if e["data"]["file_id"] == f["id"]]
    assert len(mine) == 1 and mine[0]["data"]["procedure_code"] == "filing"
    timeline = (await svc.http.get(f"/v1/matters/{filing['id']}/timeline", headers=agent)).json()
    done_by = [(h["action"], h["actor"]) for h in timeline["items"] if h["actor"] == "system:approval"]
    assert [a for a, _ in done_by] == [
        "materials_submitted",
        "notice_issued",
        "materials_submitted",
        "materials_complete",
        "completed",
    ]


async def test_refused_messages_write_nothing(inbound: Setup, registry: Registry) -> None:
    svc, system, t = inbound.issues, inbound.system, inbound.tree
    f = await _file(svc, registry, t.districts[2])
    code = f["project_code"]
    r = await system.send(_msg("procedure.approved", code, "filing", licence_no="备案0001"))
    assert r.status_code == 200, r.text
    applied = await _counts(svc, inbound.tree)  # the counts see what an applied message writes
    assert applied["steward_audit"] > 0 and applied["steward_outbox"] > 0 and applied["matter_history"] > 0

    cases = [
        (
            _msg("procedure.approved", f"{t.districts[2]}-2026-9999", "filing", licence_no="x"),
            404,
            "unknown_project",
        ),
        (_msg("procedure.accepted", code, "land_use_permit"), 404, "unknown_procedure"),
        (_msg("procedure.approved", code, "filing", licence_no="备案0002"), 409, "invalid_transition"),
        (_msg("procedure.returned", code, "filing", corrections=["迟到的补正"]), 409, "invalid_transition"),
    ]
    for msg, status, error in cases:
        before = await _counts(svc, inbound.tree)
        r = await system.send(msg)
        assert (r.status_code, r.json()["error"]["code"]) == (status, error), r.text
        assert await _counts(svc, inbound.tree) == before  # no history, submission, event or audit entry
        assert await _log(svc, msg["message_id"]) == [("refused", status, error)]

    # accepted twice under two ids: the second would be an illegal transition
    await system.send(_msg("procedure.accepted", code, "construction_permit"))
    before = await _counts(svc, inbound.tree)
    r = await system.send(_msg("procedure.accepted", code, "construction_permit"))
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_accepted"
    assert await _counts(svc, inbound.tree) == before

    # a system configured for another district cannot see (nor touch) this project
    other = ApprovalSystem("district-approval", SECRET + "-d0", svc.http)
    r = await other.send(_msg("procedure.approved", code, "construction_permit", licence_no="x"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_project"

    # invalid bodies are refused by validation
    r = await system.send({**_msg("procedure.returned", code, "filing"), "corrections": []})
    assert r.status_code == 422
    r = await system.send({**_msg("procedure.approved", code, "filing", licence_no="x"), "extra": 1})
    assert r.status_code == 422


async def test_unsigned_badly_signed_and_stale_requests_are_401(inbound: Setup) -> None:
    svc, system = inbound.issues, inbound.system
    msg = _msg("procedure.accepted", "X-2026-0001", "filing")
    before = await _counts(svc, inbound.tree)
    cases = [
        await svc.http.post("/v1/inbound/procedures", json=msg),
        await system.send(msg, secret="not-the-shared-secret-at-all"),
        await system.send(msg, timestamp=int(time.time()) - 3600),
        await system.send(msg, timestamp=int(time.time()) + 3600),
        await ApprovalSystem("nobody", SECRET, svc.http).send(msg),
    ]
    codes = [(r.status_code, r.json()["error"]["code"]) for r in cases]
    assert codes == [
        (401, "signature_required"),
        (401, "bad_signature"),
        (401, "stale_timestamp"),
        (401, "stale_timestamp"),
        (401, "unknown_system"),
    ]
    # the signature covers the exact body: a tampered body does not verify
    raw = json.dumps(msg).encode()
    r = await svc.http.post(
        "/v1/inbound/procedures",
        content=raw.replace(b"filing", b"planning"),
        headers={"Steward-System": "approval", "Steward-Signature": sign(SECRET, raw)},
    )
    assert r.status_code == 401
    assert await _counts(svc, inbound.tree) == before and await _log(svc, msg["message_id"]) == []
    r = await svc.http.post("/v1/inbound/procedures/bulk", json={"messages": [msg]})
    assert r.status_code == 401


async def test_bulk_answers_per_message(inbound: Setup, registry: Registry) -> None:
    svc, system, t = inbound.issues, inbound.system, inbound.tree
    f = await _file(svc, registry, t.districts[1])
    code = f["project_code"]
    returned = _msg("procedure.returned", code, "construction_permit", corrections=["缺少监理合同"])
    approved = _msg("procedure.approved", code, "filing", licence_no="备案0007")
    messages = [
        approved,
        _msg("procedure.approved", "NO-SUCH-PROJECT", "filing", licence_no="x"),
        returned,
        approved,  # delivered twice in the same bulk
        _msg("procedure.approved", code, "filing", licence_no="备案0008"),  # closed already
        {"message_id": "broken-1", "kind": "procedure.exploded", "project_code": code},
    ]
    r = await system.post("/v1/inbound/procedures/bulk", {"messages": messages})
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["applied"], out["duplicates"], out["refused"]) == (2, 1, 3)
    assert [(x["result"], x["status"]) for x in out["results"]] == [
        ("applied", 200),
        ("refused", 404),
        ("applied", 200),
        ("duplicate", 200),
        ("refused", 409),
        ("refused", 422),
    ]
    assert out["results"][1]["error"]["code"] == "unknown_project"
    assert out["results"][5]["message_id"] == "broken-1"
    procs = (
        await svc.http.get(f"/v1/procedure-files/{f['id']}", headers=auth(t.districts[1], "agent"))
    ).json()["procedures"]
    assert [(p["status"], p["paused"]) for p in procs] == [("closed", False), ("accepted", True)]

    # the administrators' view of the log: this city's system, refusals included
    r = await svc.http.get("/v1/inbound/procedures/log?system=approval", headers=auth(t.city, "tenant_admin"))
    assert r.status_code == 200
    mine = [x for x in r.json()["items"] if x["project_code"] in (code, "NO-SUCH-PROJECT")]
    assert sorted(x["result"] for x in mine) == ["applied", "applied", "refused", "refused", "refused"]
    r = await svc.http.get("/v1/inbound/procedures/log", headers=auth(t.districts[2], "tenant_admin"))
    assert [x for x in r.json()["items"] if x["system"] == "approval"] == []
    assert (
        await svc.http.get("/v1/inbound/procedures/log", headers=auth(t.city, "agent"))
    ).status_code == 403
