"""Network plan (挂图作战): milestones, delay events from timers, Gantt JSON, completion percentage,
milestone updates carried by progress reports."""

from __future__ import annotations

from datetime import timedelta

from steward.kit.calendar import DEFAULT_TZ
from steward.kit.db import utcnow
from steward.registry.reports.testing import staffed_project
from steward.registry.testing import EventTap, Registry, Tree


async def test_plan_delay_and_completion(registry: Registry, tree: Tree, tap: EventTap) -> None:
    d = tree.districts[0]
    s = await staffed_project(
        registry, d, roles=["steward", "enterprise_contact"], planned_start="2026-03-01"
    )
    pid = s.project["id"]
    today = utcnow().astimezone(DEFAULT_TZ).date()
    admin = registry.auth(d, "dispatcher")
    units = await registry.http.post(
        "/v1/units", json={"tenant": d, "kind": "department", "name": "住建局测试"}, headers=registry.auth(d)
    )
    body = {
        "items": [
            {"name": "取得施工许可", "planned_date": (today - timedelta(days=30)).isoformat(), "weight": 1},
            {
                "name": "主体封顶",
                "planned_date": (today - timedelta(days=3)).isoformat(),
                "owner_unit_id": units.json()["id"],
                "weight": 2,
            },
            {
                "name": "竣工验收",
                "key": "acceptance",
                "planned_date": (today + timedelta(days=90)).isoformat(),
            },
        ]
    }
    r = await registry.http.post(f"/v1/projects/{pid}/milestones", json=body, headers=admin)
    assert r.status_code == 201, r.text
    ms = r.json()
    assert [m["status"] for m in ms] == ["delayed", "delayed", "open"] and ms[1]["days_late"] == 3
    # the two past milestones fire their delay timers at once
    events = await tap.collect(f"steward.events.{d}.milestone.delayed", expect=2)
    assert sorted(e["data"]["name"] for e in events) == ["主体封顶", "取得施工许可"]
    # an enterprise contact may not edit the plan; a stranger neither; a sibling sees nothing
    r = await registry.http.post(
        f"/v1/projects/{pid}/milestones",
        json=body,
        headers=registry.auth(d, "enterprise_contact", unit=s.owner_unit),
    )
    assert r.status_code == 403
    assert (
        await registry.http.get(f"/v1/projects/{pid}/plan", headers=registry.auth(tree.districts[1]))
    ).status_code == 404
    # the first milestone reached through a progress report
    report = await registry.http.post(
        "/v1/reports",
        json={
            "project": pid,
            "schedule_key": "monthly_progress",
            "period": "2026-10",
            "investment_period": "0",
            "investment_cumulative": "0",
            "milestone_updates": [
                {"milestone_id": ms[0]["id"], "actual_date": (today - timedelta(days=25)).isoformat()}
            ],
        },
        headers=registry.auth(d, "steward", sub=s.subjects["steward"]),
    )
    assert report.status_code == 201, report.text
    plan = (await registry.http.get(f"/v1/projects/{pid}/plan", headers=admin)).json()
    assert [t["status"] for t in plan["tasks"]] == ["done_late", "delayed", "open"]
    assert plan["tasks"][0]["start"] == "2026-03-01" and plan["tasks"][1]["start"] == plan["tasks"][0]["end"]
    assert plan["tasks"][1]["owner_unit_name"] == "住建局测试"
    assert plan["completion_percent"] == "25.0"  # weight 1 of 4
    assert plan["planned_percent"] == "75.0" and plan["delayed"] == 1
    # moving a planned date needs a reason; moving it into the future clears the delay
    url = f"/v1/projects/{pid}/milestones/{ms[1]['id']}"
    r = await registry.http.patch(
        url, json={"planned_date": (today + timedelta(days=10)).isoformat()}, headers=admin
    )
    assert (r.status_code, r.json()["error"]["code"]) == (422, "reason_required")
    r = await registry.http.patch(
        url,
        json={"planned_date": (today + timedelta(days=10)).isoformat(), "reason": "图纸变更"},
        headers=admin,
    )
    assert r.status_code == 200 and r.json()["status"] == "open" and r.json()["delayed_at"] is None
    r = await registry.http.patch(url, json={"actual_date": today.isoformat()}, headers=admin)
    assert r.json()["status"] == "done"
    plan = (await registry.http.get(f"/v1/projects/{pid}/plan", headers=admin)).json()
    assert plan["completion_percent"] == "75.0"
    reached = await tap.collect(f"steward.events.{d}.milestone.reached", expect=2)
    assert [e["data"]["days_late"] for e in reached] == [5, 0]
    future = await registry.http.patch(
        url.replace(ms[1]["id"], ms[2]["id"]),
        json={"actual_date": (today + timedelta(days=1)).isoformat()},
        headers=admin,
    )
    assert future.status_code == 422
