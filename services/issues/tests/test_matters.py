"""Filing, numbering, the working-day deadline, the workflow and its guards, over REST."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import text

from steward.issues.testing import Issues, auth, local
from steward.kit.clock import Clock
from steward.kit.testing import Begins, Opened
from steward.registry.testing import Registry, Tree, create_project


async def _project(registry: Registry, tenant: str, **body: Any) -> dict[str, Any]:
    r = await create_project(registry, tenant, total_investment="5000万", **body)
    assert r.status_code == 201, r.text
    return r.json()


def obstacle(project_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "obstacle",
        "project_id": project_id,
        "title": "供电接入迟迟未落实",
        "category": "utilities",
        "sub_item": "power",
        "tier": "unit",
        **extra,
    }


async def _count(issues: Issues, sql: str, **params: Any) -> int:
    async with issues.db.read() as s:
        return int((await s.execute(text(sql), params)).scalar_one())


async def test_deadline_skips_national_day_and_counts_makeup_saturday(
    issues: Issues, registry: Registry, tree: Tree, clock: Clock
) -> None:
    d = tree.districts[0]
    p = await _project(registry, d)
    clock.set(local(2026, 9, 29, 10, 30))  # Tuesday
    r = await issues.http.post("/v1/matters", json=obstacle(p["id"]), headers=auth(d, "specialist"))
    assert r.status_code == 201, r.text
    m = r.json()
    assert m["sla_days"] == 5  # default obstacle SLA at the unit tier
    assert m["due_date"] == "2026-10-12"
    assert m["due_at"] == "2026-10-13T00:00:00+08:00"  # exclusive: the end of the due working day
    assert m["number"].startswith(f"{d}-2026-Z-") and m["status"] == "filed"
    assert m["category"] == "utilities" and m["category_zh"] == "要素保障（水电气热）"
    got = (await issues.http.get(f"/v1/matters/{m['number']}", headers=auth(d, "dispatcher"))).json()
    assert got["id"] == m["id"] and got["due_date"] == "2026-10-12"


async def test_numbers_are_unique_per_tenant_year_and_never_reused(
    issues: Issues, registry: Registry, tree: Tree, clock: Clock
) -> None:
    d = tree.districts[1]
    p = await _project(registry, d)
    numbers = []
    for _ in range(3):
        r = await issues.http.post("/v1/matters", json=obstacle(p["id"]), headers=auth(d, "specialist"))
        numbers.append(r.json()["number"])
    # a rejected matter keeps its number: the next one does not reuse it
    await issues.http.post(
        f"/v1/matters/{numbers[-1]}/reject", json={"reason": "重复上报"}, headers=auth(d, "dispatcher")
    )
    r = await issues.http.post("/v1/matters", json=obstacle(p["id"]), headers=auth(d, "specialist"))
    numbers.append(r.json()["number"])
    seqs = [int(n.rsplit("-", 1)[1]) for n in numbers]
    assert seqs == list(range(seqs[0], seqs[0] + 4)) and len(set(numbers)) == 4
    clock.set(local(2027, 1, 4, 9))
    r = await issues.http.post("/v1/matters", json=obstacle(p["id"]), headers=auth(d, "specialist"))
    assert r.json()["number"] == f"{d}-2027-Z-000001"


async def test_concurrent_filings_take_gapless_numbers_that_their_events_carry(
    issues: Issues, registry: Registry, tree: Tree
) -> None:
    """The number is taken by the filing's own statement (one round trip): concurrent filings of a
    tenant get every number once, and the event and the answer carry the matter's own."""
    d = tree.districts[2]
    p = await _project(registry, d)

    async def one(i: int) -> dict[str, Any]:
        body = obstacle(p["id"], title=f"并发上报 {i}")
        r = await issues.http.post("/v1/matters", json=body, headers=auth(d, "specialist"))
        assert r.status_code == 201, r.text
        return dict(r.json())

    filed = await asyncio.gather(*(one(i) for i in range(16)))
    seqs = sorted(int(m["number"].rsplit("-", 1)[1]) for m in filed)
    assert seqs == list(range(seqs[0], seqs[0] + 16))
    async with issues.db.read() as s:
        rows = (
            await s.execute(
                text(
                    "SELECT m.number, o.payload->'data'->>'number', o.payload::text FROM matters m "
                    "JOIN steward_outbox o ON o.payload->>'subject' = m.id::text AND o.type = 'steward.matter.filed.v1' "
                    "WHERE m.id = ANY(:ids)"
                ),
                {"ids": [uuid.UUID(m["id"]) for m in filed]},
            )
        ).all()
    assert len(rows) == 16 and all(number == carried for number, carried, _ in rows)
    assert {m["number"] for m in filed} == {number for number, _, _ in rows}
    assert not any("steward-taken-" in payload for _, _, payload in rows)


async def test_a_filing_is_one_statement_without_begin_or_commit(
    issues: Issues, registry: Registry, tree: Tree
) -> None:
    """Nothing is sent before the filing's statement (the project, the rules and the ancestry come
    from the registry client's caches), so it goes alone: no BEGIN, no COMMIT."""
    d = tree.districts[2]
    p = await _project(registry, d)
    with Begins(requests=True) as begun:
        for i in range(3):
            body = obstacle(p["id"], title=f"一次往返 {i}")
            r = await issues.http.post("/v1/matters", json=body, headers=auth(d, "specialist"))
            assert r.status_code == 201, r.text
        keyed = obstacle(p["id"], idempotency_key="one-statement-check")
        r = await issues.http.post("/v1/matters", json=keyed, headers=auth(d, "specialist"))
        assert r.status_code == 201, r.text
    assert begun.sent == ["BEGIN"]  # only the keyed filing, whose key is looked up first in its transaction


async def test_a_filing_without_a_key_needs_no_sqlalchemy_transaction(
    issues: Issues, registry: Registry, tree: Tree
) -> None:
    """Its one statement goes on a pooled connection of a lone session (``Database.lone``): no
    SQLAlchemy transaction, connection or commit around it; a keyed filing's look-up needs one."""
    d = tree.districts[2]
    p = await _project(registry, d)
    with Opened(issues.runtime.ctx.db) as opened:
        for body in (obstacle(p["id"]), obstacle(p["id"], idempotency_key="lone-check")):
            r = await issues.http.post("/v1/matters", json=body, headers=auth(d, "specialist"))
            assert r.status_code == 201, r.text
    assert opened.kinds == ["lone", "transaction"]
    got = await issues.http.get(f"/v1/matters/{r.json()['number']}", headers=auth(d, "dispatcher"))
    assert got.status_code == 200


async def test_full_workflow_with_history_and_rating(
    issues: Issues, registry: Registry, tree: Tree, clock: Clock
) -> None:
    d = tree.districts[0]
    p = await _project(registry, d)
    reporter = auth(d, "steward", sub="steward-li")
    m = (await issues.http.post("/v1/matters", json=obstacle(p["id"]), headers=reporter)).json()
    key, disp = m["id"], auth(d, "dispatcher", sub="dispatcher-wang")
    unit = "11111111-1111-1111-1111-111111111111"
    steps = [
        (
            f"/v1/matters/{key}/accept",
            {"responsible_unit_id": unit, "responsible_unit_name": "供电公司", "note": "分拣"},
            disp,
            "accepted",
        ),
        (f"/v1/matters/{key}/start", {}, auth(d, "agent", sub="agent-zhao", unit=unit), "in_progress"),
        (f"/v1/matters/{key}/resolve", {"text": "已完成增容接入"}, auth(d, "agent", unit=unit), "resolved"),
        (f"/v1/matters/{key}/reopen", {"reason": "尚未送电"}, reporter, "in_progress"),
        (f"/v1/matters/{key}/resolve", {"text": "已送电"}, auth(d, "agent", unit=unit), "resolved"),
        (f"/v1/matters/{key}/confirm", {}, reporter, "confirmed"),
        (f"/v1/matters/{key}/close", {"rating": 5, "comment": "很及时"}, reporter, "closed"),
    ]
    for url, body, headers, status in steps:
        r = await issues.http.post(url, json=body, headers=headers)
        assert r.status_code == 200, (url, r.text)
        assert r.json()["status"] == status
    assert r.json()["rating"] == 5 and r.json()["rating_label"] == "非常满意"
    t = (await issues.http.get(f"/v1/matters/{key}/timeline", headers=disp)).json()
    actions = [i["action"] for i in t["items"]]
    assert actions == [
        "filed",
        "accepted",
        "started",
        "resolved",
        "reopened",
        "resolved",
        "confirmed",
        "closed",
        "rated",
    ]
    reopened = t["items"][4]
    assert reopened["actor"] == "steward-li" and reopened["reason"] == "尚未送电"
    # my unit's queue no longer lists it; a second rating is refused
    r = await issues.http.post(f"/v1/matters/{key}/rate", json={"rating": 1}, headers=reporter)
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_rated"


async def test_invalid_transitions_and_bad_input_are_4xx_and_change_nothing(
    issues: Issues, registry: Registry, tree: Tree, clock: Clock
) -> None:
    d = tree.districts[2]
    p = await _project(registry, d)
    reporter = auth(d, "steward", sub="rep")
    before = await _count(issues, "SELECT count(*) FROM matters")
    bad_bodies = [
        {**obstacle(p["id"]), "category": "no_such_category"},
        {**obstacle(p["id"]), "sub_item": "water_of_the_moon"},
        {**obstacle(p["id"]), "category": None},
        {**obstacle(p["id"]), "kind": "gossip"},
        {**obstacle(p["id"]), "title": ""},
        {**obstacle(p["id"]), "unknown_field": 1},
        {**obstacle(p["id"]), "due_date": "2030-01-01"},
        {"kind": "obstacle", "title": "无项目", "category": "land"},
        {"kind": "complaint", "project_id": p["id"], "title": "推诿"},
    ]
    for body in bad_bodies:
        r = await issues.http.post("/v1/matters", json=body, headers=reporter)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["code"] and "message" in r.json()["error"]
    r = await issues.http.post("/v1/matters", json=obstacle("no-such-project"), headers=reporter)
    assert r.status_code == 404
    assert await _count(issues, "SELECT count(*) FROM matters") == before
    m = (await issues.http.post("/v1/matters", json=obstacle(p["id"]), headers=reporter)).json()
    outbox = await _count(
        issues, "SELECT count(*) FROM steward_outbox WHERE payload->>'subject' = :s", s=m["id"]
    )
    history = await _count(issues, "SELECT count(*) FROM matter_history WHERE matter_id = :m", m=m["id"])
    disp = auth(d, "dispatcher")
    for url, body, headers, code in [
        (f"/v1/matters/{m['id']}/resolve", {"text": "x"}, disp, 409),  # filed: accept first
        (f"/v1/matters/{m['id']}/confirm", {}, reporter, 409),
        (f"/v1/matters/{m['id']}/close", {}, reporter, 409),
        (f"/v1/matters/{m['id']}/resume", {}, disp, 409),
        (f"/v1/matters/{m['id']}/accept", {}, disp, 422),  # unit name missing
        (f"/v1/matters/{m['id']}/rate", {"rating": 6}, reporter, 422),
        (f"/v1/matters/{m['id']}/escalate", {"to": "moon", "reason": "x"}, disp, 422),
        (
            f"/v1/matters/{m['id']}/accept",
            {"responsible_unit_name": "x"},
            reporter,
            403,
        ),  # a steward does not sort
        (f"/v1/matters/{m['id']}/accept", {"responsible_unit_name": "x"}, auth(d, "enterprise_contact"), 404),
    ]:
        r = await issues.http.post(url, json=body, headers=headers)
        assert r.status_code == code, (url, r.text)
        assert "error" in r.json()
    after = (await issues.http.get(f"/v1/matters/{m['id']}", headers=disp)).json()
    assert after["status"] == "filed" and after["row_version"] == m["row_version"]
    assert (
        await _count(issues, "SELECT count(*) FROM matter_history WHERE matter_id = :m", m=m["id"]) == history
    )
    assert (
        await _count(issues, "SELECT count(*) FROM steward_outbox WHERE payload->>'subject' = :s", s=m["id"])
        == outbox
    )
    r = await issues.http.get("/v1/matters?cursor=!!!", headers=disp)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_cursor"
    r = await issues.http.get("/v1/matters/queues/my-unit", headers=disp)
    assert r.status_code == 422 and r.json()["error"]["code"] == "no_unit"


async def test_pause_extends_the_deadline_by_paused_working_days(
    issues: Issues, registry: Registry, tree: Tree, clock: Clock
) -> None:
    d = tree.districts[0]
    p = await _project(registry, d)
    clock.set(local(2026, 11, 2, 9))  # Monday; 5 working days → due Monday 11-09
    m = (await issues.http.post("/v1/matters", json=obstacle(p["id"]), headers=auth(d, "steward"))).json()
    assert m["due_date"] == "2026-11-09"
    disp = auth(d, "dispatcher")
    await issues.http.post(
        f"/v1/matters/{m['id']}/accept", json={"responsible_unit_name": "规划局"}, headers=disp
    )
    clock.set(local(2026, 11, 3, 15))
    r = await issues.http.post(
        f"/v1/matters/{m['id']}/pause", json={"reason": "等待企业补充材料"}, headers=disp
    )
    assert r.status_code == 200 and r.json()["paused"] is True
    clock.set(local(2026, 11, 6, 10))  # Tue → Fri: 3 working days waited
    r = await issues.http.post(f"/v1/matters/{m['id']}/resume", json={}, headers=disp)
    out = r.json()
    assert out["paused_working_days"] == 3 and out["due_date"] == "2026-11-12" and out["paused"] is False
    t = (await issues.http.get(f"/v1/matters/{m['id']}/timeline", headers=disp)).json()
    assert [i["action"] for i in t["items"]][-2:] == ["paused", "resumed"]
    assert t["items"][-1]["data"]["paused_working_days"] == 3


async def test_work_queues_filters_and_keyset_paging(
    issues: Issues, registry: Registry, tree: Tree, clock: Clock
) -> None:
    d = tree.districts[1]
    p = await _project(registry, d)
    unit = "22222222-2222-2222-2222-222222222222"
    ids = []
    for i in range(5):
        body = obstacle(p["id"], title=f"问题{i}", responsible_unit_id=unit if i % 2 == 0 else None)
        ids.append(
            (await issues.http.post("/v1/matters", json=body, headers=auth(d, "steward"))).json()["id"]
        )
    q = (await issues.http.get("/v1/matters/queues/my-unit", headers=auth(d, "agent", unit=unit))).json()
    assert {m["id"] for m in q["items"]} == {ids[0], ids[2], ids[4]}
    seen, cursor = [], None
    while True:
        url = f"/v1/matters?tenant={d}&project_id={p['id']}&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await issues.http.get(url, headers=auth(d, "dispatcher"))).json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
