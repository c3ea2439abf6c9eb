"""Return visits (回访): the service room picks service records, records the enterprise's answer and
satisfaction; unvisited records listed; monthly statistics per specialist and per unit (+ CSV)."""

from __future__ import annotations

import csv
import io
from typing import Any

from steward.registry.testing import EventTap, Registry, create_project, make_tree


async def test_pick_record_unvisited_and_monthly_stats(registry: Registry, tap: EventTap) -> None:
    tree = await make_tree(registry)
    d = tree.districts[0]
    admin = registry.auth(d)
    room = registry.auth(d, "dispatcher", sub="service-room")
    project = (await create_project(registry, d, name="回访项目")).json()
    units = {}
    people = {}
    for key, unit_name, person in (("a", "发改局", "专员甲"), ("b", "住建局", "专员乙")):
        u = await registry.http.post(
            "/v1/units", json={"tenant": d, "kind": "department", "name": f"{unit_name}{d}"}, headers=admin
        )
        assert u.status_code == 201, u.text
        units[key] = u.json()
        p = await registry.http.post(
            "/v1/people",
            json={"tenant": d, "name": person, "unit_id": u.json()["id"], "subject": f"spec-{key}-{d}"},
            headers=admin,
        )
        assert p.status_code == 201, p.text
        people[key] = p.json()

    async def log(who: str, when: str) -> str:
        r = await registry.http.post(
            "/v1/service-log",
            json={
                "project": project["id"],
                "visited_at": when,
                "place": "项目现场",
                "participants": [{"name": "企业负责人"}],
                "problems_solved": "协调用地手续",
            },
            headers=registry.auth(d, "specialist", sub=f"spec-{who}-{d}"),
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    a1 = await log("a", "2026-10-09T10:00:00+08:00")
    a2 = await log("a", "2026-10-20T10:00:00+08:00")
    await log("a", "2026-10-31T23:30:00+08:00")  # still October in Beijing time
    b1 = await log("b", "2026-10-15T10:00:00+08:00")
    await log("a", "2026-11-01T09:00:00+08:00")

    forbidden = await registry.http.post(
        "/v1/return-visits", json={"entry_ids": [a1]}, headers=registry.auth(d, "specialist")
    )
    assert forbidden.status_code == 403
    picked = await registry.http.post("/v1/return-visits", json={"entry_ids": [a1, a2, b1]}, headers=room)
    assert picked.status_code == 201, picked.text
    visits = {v["entry_id"]: v for v in picked.json()["items"]}
    assert {v["specialist"] for v in visits.values()} == {"专员甲", "专员乙"}
    assert all(v["status"] == "picked" and v["month"] == "2026-10" for v in visits.values())
    again = await registry.http.post("/v1/return-visits", json={"entry_ids": [a1]}, headers=room)
    assert again.status_code == 409

    async def call(entry: str, satisfaction: str, **extra: Any) -> Any:
        body = {
            "called_by": "服务室王五",
            "called_at": "2026-11-03T15:00:00+08:00",
            "answer": "服务及时",
            "satisfaction": satisfaction,
        }
        body.update(extra)
        return await registry.http.post(
            f"/v1/return-visits/{visits[entry]['id']}/record", json=body, headers=room
        )

    future = await call(a1, "satisfied", called_at="2099-01-01T00:00:00+08:00")
    assert future.status_code == 422
    bad = await call(a1, "thrilled")
    assert bad.status_code == 422
    done = await call(a1, "very_satisfied")
    assert done.status_code == 200, done.text
    assert done.json()["items"][0]["status"] == "done"
    assert (await call(b1, "unsatisfied", answer="回复慢")).status_code == 200
    assert (await call(b1, "satisfied")).status_code == 409

    unvisited = await registry.http.get(
        "/v1/return-visits", params={"tenant": d, "month": "2026-10", "unvisited": "true"}, headers=room
    )
    assert [v["entry_id"] for v in unvisited.json()["items"]] == [a2]

    stats = await registry.http.get(
        "/v1/return-visits/stats", params={"tenant": d, "month": "2026-10"}, headers=room
    )
    assert stats.status_code == 200, stats.text
    s = stats.json()
    rows = {r["name"]: r for r in s["specialists"]}
    assert (rows["专员甲"]["records"], rows["专员甲"]["picked"], rows["专员甲"]["visited"]) == (3, 2, 1)
    assert rows["专员甲"]["unvisited"] == 1 and rows["专员甲"]["satisfied_percent"] == "100.0"
    assert (rows["专员乙"]["records"], rows["专员乙"]["satisfied_percent"]) == (1, "0.0")
    assert rows["专员乙"]["by_satisfaction"]["unsatisfied"] == 1
    unit_rows = {r["key"]: r for r in s["units"]}
    assert unit_rows[units["a"]["id"]]["records"] == 3 and unit_rows[units["b"]["id"]]["visited"] == 1
    t = s["totals"]
    assert (t["records"], t["picked"], t["visited"], t["unvisited"], t["satisfied_percent"]) == (
        4,
        3,
        2,
        1,
        "50.0",
    )
    november = await registry.http.get(
        "/v1/return-visits/stats", params={"tenant": d, "month": "2026-11"}, headers=room
    )
    assert november.json()["totals"]["records"] == 1 and november.json()["totals"]["picked"] == 0

    exported = await registry.http.get(
        "/v1/return-visits/stats", params={"tenant": d, "month": "2026-10", "format": "csv"}, headers=room
    )
    assert exported.content.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert table[0][:3] == ["类别", "名称", "服务记录"]
    assert table[1][:6] == ["专员", "专员甲", "3", "2", "1", "1"]
    assert table[-1][0] == "合计" and table[-1][-1] == "50.0"

    sibling = await registry.http.get(
        "/v1/return-visits",
        params={"month": "2026-10"},
        headers=registry.auth(tree.districts[1], "dispatcher"),
    )
    assert sibling.json()["items"] == []
    events = await tap.collect(f"steward.events.{d}.return_visit.recorded", expect=2)
    assert sorted(e["data"]["satisfaction"] for e in events) == ["unsatisfied", "very_satisfied"]
