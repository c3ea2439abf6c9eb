"""Deadlines passing: overdue once, escalation one tier up along the tenant tree, exactly once across
two replicas (counted on the bus and in the database)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import text

from steward.issues.testing import Issues, auth, local, migrate, running_issues, wait_for
from steward.kit.clock import Clock
from steward.registry.testing import EventTap, Registry, Tree, create_project, make_tree


async def _get(issues: Issues, key: str, tenant: str) -> dict[str, Any]:
    return (await issues.http.get(f"/v1/matters/{key}", headers=auth(tenant, "dispatcher"))).json()


async def test_township_matter_escalates_to_its_district_then_the_city(
    issues: Issues, registry: Registry, tree: Tree, clock: Clock, tap: EventTap
) -> None:
    t = tree.township
    p = (await create_project(registry, t, total_investment="800万")).json()
    clock.set(local(2026, 11, 2, 10))  # Monday
    body = {
        "kind": "obstacle",
        "project_id": p["id"],
        "title": "征地补偿未到位",
        "category": "site",
        "sub_item": "acquisition",
    }
    m = (await issues.http.post("/v1/matters", json=body, headers=auth(t, "specialist"))).json()
    assert m["tier"] == "unit" and m["handling_tenant"] == t and m["due_date"] == "2026-11-09"
    key = m["id"]

    clock.set(local(2026, 11, 10, 0, 0, 1))  # the deadline passed
    got = await wait_for(lambda: _overdue(issues, key, t))
    assert got["tier"] == "unit" and got["escalations"] == 0  # escalation waits 2 working days (rules)
    clock.set(local(2026, 11, 12, 0, 0, 1))
    got = await wait_for(lambda: _escalated(issues, key, t, 1))
    assert got["tier"] == "district" and got["handling_tenant"] == tree.districts[2]
    assert got["overdue"] is False and got["due_date"] == "2026-11-26"  # a fresh 10-day SLA at the district
    # the township can no longer sort it: the district handles it now
    r = await issues.http.post(
        f"/v1/matters/{key}/accept", json={"responsible_unit_name": "x"}, headers=auth(t, "dispatcher")
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_handling_tenant"

    clock.set(local(2026, 11, 27, 0, 0, 1))
    await wait_for(lambda: _overdue(issues, key, t))
    clock.set(local(2026, 12, 1, 0, 0, 1))
    got = await wait_for(lambda: _escalated(issues, key, t, 2))
    assert got["tier"] == "city" and got["handling_tenant"] == tree.city

    events = await tap.collect(f"steward.events.{t}.matter.escalated", expect=2)
    mine = [e["data"] for e in events if e["data"]["matter_id"] == key]
    assert [(e["from_tenant"], e["to_tenant"]) for e in mine] == [
        (t, tree.districts[2]),
        (tree.districts[2], tree.city),
    ]
    assert all(e["automatic"] for e in mine)
    overdue = await tap.collect(f"steward.events.{t}.matter.overdue", expect=2)
    assert len([e for e in overdue if e["data"]["matter_id"] == key]) == 2  # one per deadline
    timeline = (await issues.http.get(f"/v1/matters/{key}/timeline", headers=auth(t, "dispatcher"))).json()
    assert [i["action"] for i in timeline["items"] if i["action"] in ("overdue", "escalated")] == [
        "overdue",
        "escalated",
        "overdue",
        "escalated",
    ]


async def _overdue(issues: Issues, key: str, tenant: str) -> dict[str, Any] | None:
    m = await _get(issues, key, tenant)
    return m if m["overdue"] else None


async def _escalated(issues: Issues, key: str, tenant: str, n: int) -> dict[str, Any] | None:
    m = await _get(issues, key, tenant)
    return m if m["escalations"] >= n else None


async def test_manual_escalation_to_the_meeting_and_next_tier(
    issues: Issues, registry: Registry, tree: Tree, clock: Clock, tap: EventTap
) -> None:
    d = tree.districts[0]
    p = (await create_project(registry, d, total_investment="5000万")).json()
    m = (
        await issues.http.post(
            "/v1/matters",
            json={
                "kind": "obstacle",
                "project_id": p["id"],
                "title": "规划调整",
                "category": "planning",
                "tier": "unit",
            },
            headers=auth(d, "steward"),
        )
    ).json()
    disp = auth(d, "dispatcher")
    r = await issues.http.post(
        f"/v1/matters/{m['id']}/escalate", json={"to": "meeting", "reason": "提交周例会研究"}, headers=disp
    )
    assert r.status_code == 200 and r.json()["on_meeting_agenda"] is True and r.json()["tier"] == "unit"
    r = await issues.http.post(
        f"/v1/matters/{m['id']}/escalate", json={"to": "meeting", "reason": "again"}, headers=disp
    )
    assert r.status_code == 409
    r = await issues.http.post(f"/v1/matters/{m['id']}/escalate", json={"reason": "跨部门"}, headers=disp)
    assert (
        r.json()["tier"] == "district" and r.json()["handling_tenant"] == d and r.json()["escalations"] == 1
    )
    r = await issues.http.post(f"/v1/matters/{m['id']}/escalate", json={"reason": "需市级协调"}, headers=disp)
    assert r.json()["tier"] == "city" and r.json()["handling_tenant"] == tree.city
    r = await issues.http.post(f"/v1/matters/{m['id']}/escalate", json={"reason": "报市政府"}, headers=disp)
    assert r.status_code == 403  # handled by the city now: above the district's scope
    r = await issues.http.post(
        f"/v1/matters/{m['id']}/escalate", json={"reason": "报市政府"}, headers=auth(tree.city, "dispatcher")
    )
    assert r.json()["tier"] == "government" and r.json()["escalations"] == 3
    r = await issues.http.post(
        f"/v1/matters/{m['id']}/escalate", json={"reason": "?"}, headers=auth(tree.city, "dispatcher")
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "top_tier"


N = 300


async def test_two_replicas_fire_each_overdue_and_escalation_exactly_once(
    make_database: Any, nats_url: str, registry: Registry, tap: EventTap
) -> None:
    tree = await make_tree(registry)
    d = tree.districts[1]
    db_url = await asyncio.to_thread(migrate, make_database("issues_twice"))
    clock = Clock()
    clock.set(local(2026, 11, 2, 10))
    p = (await create_project(registry, d, total_investment="5000万")).json()
    async with (
        running_issues(
            db_url,
            nats_url,
            registry.grpc_target,
            clock=clock,
            timer_batch_size=25,
            service_name="issues-a",
            timer_poll_seconds=0.05,
        ) as a,
        running_issues(
            db_url,
            nats_url,
            registry.grpc_target,
            clock=clock,
            timer_batch_size=25,
            service_name="issues-b",
            timer_poll_seconds=0.05,
        ) as b,
    ):
        body = {
            "kind": "obstacle",
            "project_id": p["id"],
            "title": "用电增容",
            "category": "utilities",
            "tier": "unit",
        }

        async def file(i: int) -> None:
            svc = a if i % 2 else b
            r = await svc.http.post("/v1/matters", json=body, headers=auth(d, "specialist"))
            assert r.status_code == 201, r.text

        for chunk in range(0, N, 25):
            await asyncio.gather(*(file(i) for i in range(chunk, chunk + 25)))
        clock.advance(timedelta(days=10))  # every deadline and escalation delay has passed

        async def escalated() -> bool:
            async with a.db.read() as s:
                n = (await s.execute(text("SELECT count(*) FROM matters WHERE escalations > 0"))).scalar_one()
            return n == N

        await wait_for(escalated, timeout=90)
        async with a.db.read() as s:
            per_matter = (
                await s.execute(
                    text(
                        "SELECT count(*) FILTER (WHERE action = 'overdue'), count(*) FILTER (WHERE action = 'escalated')"
                        " FROM matter_history GROUP BY matter_id"
                    )
                )
            ).all()
            assert len(per_matter) == N and set(per_matter) == {(1, 1)}
            assert (
                await s.execute(
                    text("SELECT count(*) FROM matters WHERE escalations <> 1 OR tier <> 'district'")
                )
            ).scalar_one() == 0
            errors = (
                await s.execute(text("SELECT kind, last_error FROM steward_timers WHERE attempts > 0"))
            ).all()
            assert errors == []
    overdue = await tap.collect(f"steward.events.{d}.matter.overdue", expect=N, wait=30)
    escalations = await tap.collect(f"steward.events.{d}.matter.escalated", expect=N, wait=30)
    for events in (overdue, escalations):
        ids = [e["data"]["matter_id"] for e in events]
        assert len(ids) == N and len(set(ids)) == N
