"""The registry's inbound interface (docs/inbound.md): a fake statistics system and a fake land
system sign and POST over HTTP on loopback to a running registry configured with their secrets. Each
message kind is applied as a user's change (with its event), a duplicate changes nothing, an unknown
project or an illegal transition is refused with a 4xx and writes nothing, bad signatures and stale
timestamps are 401, and a bulk answers per message."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from steward.kit.inbound import sign
from steward.registry.milestones.service import today
from steward.registry.testing import EventTap, Registry, Tree, create_project, make_tree, running_registry

STATS_SECRET = "statistics-system-shared-secret-01"
LAND_SECRET = "land-system-shared-secret-000000001"
COUNTED = {  # rows of the test's own tenants (a fresh tree per test)
    "project_statistics": "SELECT count(*) FROM project_statistics s JOIN projects p ON p.id = s.project_id "
    "WHERE p.tenant_code LIKE :t",
    "project_monthly_investment": "SELECT count(*) FROM project_monthly_investment s "
    "JOIN projects p ON p.id = s.project_id WHERE p.tenant_code LIKE :t",
    "milestones_reached": "SELECT count(*) FROM milestones WHERE tenant_code LIKE :t "
    "AND actual_date IS NOT NULL",
    "steward_outbox": "SELECT count(*) FROM steward_outbox WHERE tenant LIKE :t",
    "steward_audit": "SELECT count(*) FROM steward_audit WHERE tenant LIKE :t",
}


@dataclass
class FakeSystem:
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
        return await self.post("/v1/inbound/projects", msg, **kw)


@dataclass
class Setup:
    registry: Registry
    tree: Tree
    stats: FakeSystem
    land: FakeSystem


@pytest.fixture
async def inbound(registry: Registry, registry_db_url: str, nats_url: str) -> AsyncIterator[Setup]:
    tree = await make_tree(registry)
    systems = {
        "statistics": {"secret": STATS_SECRET, "tenant": tree.city, "name_zh": "统计联网直报系统"},
        "land": {"secret": LAND_SECRET, "tenant": tree.districts[0], "name_zh": "土地交易系统"},
    }
    async with running_registry(registry_db_url, nats_url, inbound_systems=systems) as reg:
        yield Setup(
            reg,
            tree,
            FakeSystem("statistics", STATS_SECRET, reg.http),
            FakeSystem("land", LAND_SECRET, reg.http),
        )


async def _counts(reg: Registry, tree: Tree) -> dict[str, int]:
    async with reg.db.read() as session:
        return {
            name: (await session.execute(text(sql), {"t": tree.city[:4] + "%"})).scalar_one()
            for name, sql in COUNTED.items()
        }


async def _log(reg: Registry, message_id: str) -> list[tuple[str, int, str | None]]:
    async with reg.db.read() as session:
        rows = await session.execute(
            text("SELECT result, status, error_code FROM project_inbound_messages WHERE message_id = :m"),
            {"m": message_id},
        )
        return [tuple(r) for r in rows.all()]


def _msg(kind: str, project: str, **extra: Any) -> dict[str, Any]:
    return {"message_id": f"M-{uuid.uuid4().hex[:12]}", "kind": kind, "project_code": project, **extra}


async def _project_with_plan(reg: Registry, d: str, **body: Any) -> dict[str, Any]:
    p = (await create_project(reg, d, total_investment="3亿", **body)).json()
    due = (today() + timedelta(days=30)).isoformat()
    r = await reg.http.post(
        f"/v1/projects/{p['code']}/milestones",
        json={
            "items": [
                {"key": "signed", "name": "项目签约", "planned_date": due},
                {"key": "land", "name": "土地交付", "planned_date": due},
            ]
        },
        headers=reg.auth(d, "dispatcher"),
    )
    assert r.status_code == 201, r.text
    return p


async def test_statistics_and_land_messages_are_applied_once_with_events(
    inbound: Setup, tap: EventTap
) -> None:
    reg, t = inbound.registry, inbound.tree
    d = t.districts[0]
    national = f"2026-{d}-47-03-{secrets.token_hex(3).upper()}"
    p = await _project_with_plan(reg, d, national_code=national)
    headers = reg.auth(d, "dispatcher")

    # 入库, then 纳统 (the statistics system may name the project by its national code)
    r = await inbound.stats.send(_msg("statistics.included", p["code"], status="in_library", on="2026-09-01"))
    assert r.status_code == 200 and r.json()["target"]["status"] == "in_library", r.text
    included = _msg(
        "statistics.included", national, status="in_statistics", on="2026-10-08", statistics_code="TJ0042"
    )
    r = await inbound.stats.send(included)
    assert r.status_code == 200 and r.json()["target"]["project_code"] == p["code"], r.text

    # the month's investment, delivered twice: counted once
    october = _msg("statistics.investment", p["code"], month="2026-10", amount="1200万", cumulative="3500万")
    r = await inbound.stats.send(october)
    assert r.status_code == 200 and r.json()["result"] == "applied", r.text
    before = await _counts(reg, t)
    again = await inbound.stats.send(october)
    assert again.status_code == 200 and again.json()["result"] == "duplicate"
    assert again.json()["target"] == r.json()["target"]
    assert await _counts(reg, t) == before
    assert await _log(reg, october["message_id"]) == [("applied", 200, None)]
    # a revised figure under a new id corrects the month
    r = await inbound.stats.send(_msg("statistics.investment", p["code"], month="2026-10", amount="1250万"))
    assert r.status_code == 200 and r.json()["target"]["corrected"] is True
    await inbound.stats.send(_msg("statistics.investment", p["code"], month="2026-11", amount="800万"))

    s = (await reg.http.get(f"/v1/projects/{p['code']}/statistics", headers=headers)).json()
    assert (s["status"], s["statistics_code"], s["in_library_on"], s["in_statistics_on"]) == (
        "in_statistics",
        "TJ0042",
        "2026-09-01",
        "2026-10-08",
    )
    assert [(m["month"], m["amount"]) for m in s["months"]] == [
        ("2026-10", "12500000.00"),
        ("2026-11", "8000000.00"),
    ]
    assert s["year_total"] == {"2026": "20500000.00"}

    # 交地: the land node of the network plan is reached
    on = (today() - timedelta(days=2)).isoformat()
    handover = _msg("land.handover", p["code"], handed_over_on=on, parcel="DK-2026-07")
    r = await inbound.land.send(handover)
    assert r.status_code == 200 and r.json()["target"]["node"] == "land", r.text
    plan = (await reg.http.get(f"/v1/projects/{p['code']}/plan", headers=headers)).json()
    assert [(x["key"], x["actual"]) for x in plan["tasks"]] == [("signed", None), ("land", on)]

    # the events are those of a user's own changes
    updated = await tap.collect(f"steward.events.{d}.project.updated", expect=5)
    changes = [e["data"]["changes"] for e in updated if e["data"]["project_id"] == p["id"]]
    assert changes[0] == {
        "statistics_status": [None, "in_library"],
        "statistics_in_library_on": [None, "2026-09-01"],
    }
    assert changes[2] == {"statistics_investment_2026-10": [None, "12000000.00"]}
    assert changes[3] == {"statistics_investment_2026-10": ["12000000.00", "12500000.00"]}
    reached = await tap.collect(f"steward.events.{d}.milestone.reached", expect=1)
    assert [
        (e["data"]["name"], e["data"]["actual_date"]) for e in reached if e["data"]["project_id"] == p["id"]
    ] == [("土地交付", on)]


async def test_refused_messages_write_nothing(inbound: Setup) -> None:
    reg, t = inbound.registry, inbound.tree
    d = t.districts[0]
    p = await _project_with_plan(reg, d)
    bare = (await create_project(reg, d, total_investment="1000万")).json()  # no network plan
    on = (today() - timedelta(days=1)).isoformat()
    r = await inbound.land.send(_msg("land.handover", p["code"], handed_over_on=on))
    assert r.status_code == 200, r.text
    await inbound.stats.send(_msg("statistics.included", p["code"], status="in_statistics", on="2026-10-01"))

    elsewhere = (await create_project(reg, t.districts[1], total_investment="1000万")).json()
    cases = [
        (
            inbound.stats,
            _msg("statistics.included", f"{d}-2026-99999", status="in_library", on="2026-10-01"),
            404,
            "unknown_project",
        ),
        (
            inbound.stats,
            _msg("statistics.investment", bare["code"], month="2026-10", amount="10万"),
            409,
            "not_in_statistics",
        ),
        (
            inbound.stats,
            _msg("statistics.included", p["code"], status="in_library", on="2026-11-01"),
            409,
            "statistics_status_not_forward",
        ),
        (inbound.land, _msg("land.handover", p["code"], handed_over_on=on), 409, "already_reached"),
        (inbound.land, _msg("land.handover", bare["code"], handed_over_on=on), 409, "no_land_node"),
        # the land system is configured for one district: another district's project is unknown to it
        (inbound.land, _msg("land.handover", elsewhere["code"], handed_over_on=on), 404, "unknown_project"),
    ]
    for system, msg, status, error in cases:
        before = await _counts(reg, t)
        r = await system.send(msg)
        assert (r.status_code, r.json()["error"]["code"]) == (status, error), r.text
        assert await _counts(reg, t) == before  # no statistics row, node date, event or audit entry
        assert await _log(reg, msg["message_id"]) == [("refused", status, error)]

    future = (today() + timedelta(days=3)).isoformat()
    p2 = await _project_with_plan(reg, d)
    r = await inbound.land.send(_msg("land.handover", p2["code"], handed_over_on=future))
    assert r.status_code == 422
    r = await inbound.stats.send(_msg("statistics.investment", p["code"], month="2026-13", amount="1"))
    assert r.status_code == 422


async def test_unsigned_badly_signed_and_stale_requests_are_401(inbound: Setup) -> None:
    reg, stats = inbound.registry, inbound.stats
    msg = _msg("statistics.included", "X-2026-0001", status="in_library", on="2026-10-01")
    cases = [
        await reg.http.post("/v1/inbound/projects", json=msg),
        await stats.send(msg, secret=LAND_SECRET),  # another system's secret
        await stats.send(msg, timestamp=int(time.time()) - 600),
        await FakeSystem("unknown", STATS_SECRET, reg.http).send(msg),
        await stats.post("/v1/inbound/projects/bulk", {"messages": [msg]}, timestamp=int(time.time()) - 600),
    ]
    assert [(r.status_code, r.json()["error"]["code"]) for r in cases] == [
        (401, "signature_required"),
        (401, "bad_signature"),
        (401, "stale_timestamp"),
        (401, "unknown_system"),
        (401, "stale_timestamp"),
    ]
    assert await _log(reg, msg["message_id"]) == []


async def test_bulk_answers_per_message(inbound: Setup) -> None:
    reg, t = inbound.registry, inbound.tree
    d = t.districts[0]
    p = await _project_with_plan(reg, d)
    included = _msg("statistics.included", p["code"], status="in_statistics", on="2026-10-01")
    messages = [
        included,
        _msg("statistics.investment", p["code"], month="2026-10", amount="500万"),
        included,
        _msg("statistics.investment", "NOPE-2026-0001", month="2026-10", amount="1"),
        _msg("statistics.investment", p["code"], month="2026-11", amount="-5"),
        {"message_id": "half", "kind": "statistics.investment", "project_code": p["code"]},
    ]
    r = await inbound.stats.post("/v1/inbound/projects/bulk", {"messages": messages})
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["applied"], out["duplicates"], out["refused"]) == (2, 1, 3)
    assert [(x["result"], x["status"]) for x in out["results"]] == [
        ("applied", 200),
        ("applied", 200),
        ("duplicate", 200),
        ("refused", 404),
        ("refused", 422),
        ("refused", 422),
    ]
    assert out["results"][5]["error"]["details"]
    s = (await reg.http.get(f"/v1/projects/{p['id']}/statistics", headers=reg.auth(d, "dispatcher"))).json()
    assert [m["month"] for m in s["months"]] == ["2026-10"]

    r = await reg.http.get(
        "/v1/inbound/projects/log?system=statistics", headers=reg.auth(t.city, "tenant_admin")
    )
    assert r.status_code == 200
    mine = [x for x in r.json()["items"] if x["project_code"] in (p["code"], "NOPE-2026-0001")]
    assert sorted(x["result"] for x in mine) == ["applied", "applied", "refused", "refused", "refused"]
    r = await reg.http.get("/v1/inbound/projects/log", headers=reg.auth(t.districts[0], "tenant_admin"))
    assert {x["system"] for x in r.json()["items"]} <= {"land"}
