"""Agents' weekly work report: due Thursday, moved earlier when Thursday is a holiday (2026-W40:
Thursday Oct 1 is 国庆节 → Wednesday Sep 30), pre-filled from the agent's projects, late facts on
submission, and ``agent_report.overdue`` once per agent and week however often the timer fires."""

from __future__ import annotations

import asyncio
from datetime import datetime

import sqlalchemy as sa

from steward.kit.calendar import DEFAULT_TZ
from steward.registry.agentreports import timers as agent_timers
from steward.registry.reports.testing import staffed_project
from steward.registry.testing import EventTap, Registry, make_tree
from steward.rules import preset_override

AGENT_WEEKLY = {
    "reports": {
        "agent_weekly": {
            "key": "agent_weekly_work",
            "name_zh": "代办员周工作报告",
            "kind": "weekly",
            "weekday": 3,
            "due_time": "17:00",
            "holiday_shift": "earlier",
        }
    }
}


async def _fire(registry: Registry, tenant: str, period: str, due_at: str) -> None:
    async with registry.db.transaction() as session:
        await agent_timers.arm(
            session, tenant=tenant, period_key=period, due_at=datetime.fromisoformat(due_at)
        )
    for _ in range(100):
        async with registry.db.read() as session:
            left = (
                await session.execute(
                    sa.text("SELECT count(*) FROM steward_timers WHERE kind = :k AND key = :key"),
                    {"k": agent_timers.OVERDUE_TIMER, "key": f"{tenant}|{period}"},
                )
            ).scalar_one()
        if left == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("agent report timer did not fire")


async def test_holiday_thursday_late_and_missing_once(registry: Registry, tap: EventTap) -> None:
    anyang = preset_override("anyang")  # 五个一: the roster has the agent (代办员)
    anyang["reports"]["agent_weekly"] = AGENT_WEEKLY["reports"]["agent_weekly"]
    tree = await make_tree(registry, rules={"d0": anyang})
    d = tree.districts[0]
    one = await staffed_project(registry, d, roles=["agent"], name="代办项目一", planned_start="2026-09-01")
    two = await staffed_project(registry, d, roles=["agent"], name="代办项目二")
    admin = registry.auth(d, "dispatcher")
    m = await registry.http.post(
        f"/v1/projects/{one.project['id']}/milestones",
        json={"items": [{"name": "取得规划许可", "planned_date": "2026-09-29"}]},
        headers=admin,
    )
    assert m.status_code == 201, m.text
    agent = registry.auth(d, "agent", sub=one.subjects["agent"])

    draft = await registry.http.get("/v1/agent-reports/draft", params={"period": "2026-W40"}, headers=agent)
    assert draft.status_code == 200, draft.text
    body = draft.json()
    assert body["due_at"] == "2026-09-30T17:00:00+08:00" and body["shifted"] is True
    assert "国庆" in body["shift_reason"]
    [project] = body["projects"]
    assert project["code"] == one.project["code"]
    assert [x["name"] for x in project["milestones"]] == ["取得规划许可"]
    normal = await registry.http.get("/v1/agent-reports/draft", params={"period": "2026-W41"}, headers=agent)
    assert normal.json()["due_at"] == "2026-10-08T17:00:00+08:00" and normal.json()["shifted"] is False

    r = await registry.http.post(
        "/v1/agent-reports",
        json={
            "period": "2026-W40",
            "progress_text": "规划许可已取得",
            "problems_text": "施工图审查排队",
            "notes": [{"project_id": one.project["id"], "note": "已提交施工许可材料"}],
        },
        headers=agent,
    )
    assert r.status_code == 201, r.text
    assert r.json()["late"] is True and r.json()["delay_seconds"] > 0  # the clock is past Sep 30
    assert r.json()["projects"][0]["note"] == "已提交施工许可材料"
    again = await registry.http.post(
        "/v1/agent-reports", json={"period": "2026-W40", "progress_text": "x"}, headers=agent
    )
    assert again.status_code == 409
    future = await registry.http.post(
        "/v1/agent-reports", json={"period": "2026-W52", "progress_text": "x"}, headers=agent
    )
    assert future.status_code == 422 and future.json()["error"]["code"] == "period_not_started"
    stranger = await registry.http.post(
        "/v1/agent-reports", json={"period": "2026-W40", "progress_text": "x"}, headers=admin
    )
    assert stranger.status_code == 403
    other = await registry.http.post(
        "/v1/agent-reports",
        json={"period": "2026-W40", "progress_text": "x", "notes": [{"project_id": one.project["id"]}]},
        headers=registry.auth(d, "agent", sub=two.subjects["agent"]),
    )
    assert other.status_code == 422 and other.json()["error"]["code"] == "not_your_project"

    status = await registry.http.get(
        "/v1/agent-reports/status", params={"tenant": d, "period": "2026-W40"}, headers=admin
    )
    rows = {x["person_id"]: x["status"] for x in status.json()["items"]}
    assert rows == {one.people["agent"]["id"]: "late", two.people["agent"]["id"]: "missing"}

    # the overdue timer fires twice (re-armed): the silent agent is reported once, the other never
    await _fire(registry, d, "2026-W40", "2026-09-30T17:00:00+08:00")
    await _fire(registry, d, "2026-W40", "2026-09-30T17:00:00+08:00")
    # the planner arms the same week again from the rules (the due day moved to Wednesday)
    async with registry.db.transaction() as session:
        assert await agent_timers.plan_all(session, now=datetime(2026, 9, 28, 9, tzinfo=DEFAULT_TZ)) >= 1
        due = (
            await session.execute(
                sa.text("SELECT due_at FROM steward_timers WHERE kind = :k AND key = :key"),
                {"k": agent_timers.OVERDUE_TIMER, "key": f"{d}|2026-W40"},
            )
        ).scalar_one()
        assert due == datetime(2026, 9, 30, 17, tzinfo=DEFAULT_TZ)
    await _fire(registry, d, "2026-W40", "2026-09-30T17:00:00+08:00")
    events = await tap.collect(f"steward.events.{d}.agent_report.overdue", expect=2, wait=3.0)
    assert [(e["data"]["person_id"], e["data"]["period"]) for e in events] == [
        (two.people["agent"]["id"], "2026-W40")
    ]
    submitted = await tap.collect(f"steward.events.{d}.agent_report.submitted", expect=1)
    assert submitted[0]["data"]["late"] is True

    # a tenant without the rule has no agents' report
    bare = await registry.http.get(
        "/v1/agent-reports/status",
        params={"tenant": tree.districts[1], "period": "2026-W40"},
        headers=registry.auth(tree.districts[1], "dispatcher"),
    )
    assert bare.status_code == 422 and bare.json()["error"]["code"] == "no_agent_schedule"
