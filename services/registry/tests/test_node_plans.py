"""Node-plan templates: rules section, generated milestones on working days, delays pushed to
successors only. Real 2026 dates: 中秋 Sep 25–27 and 国庆 Oct 1–7 are off; Sunday Sep 20 and
Saturday Oct 10 are make-up working days (国办发明电〔2025〕 arrangement, chinese-calendar data)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from steward.kit.calendar import WorkingCalendar
from steward.registry.testing import EventTap, Registry, create_project, make_tree
from steward.rules.document import default_rules
from steward.rules.node_plans import NodePlanTemplate

NODES = [
    {"key": "signed", "name_zh": "签约", "duration_days": 0},
    {"key": "land", "name_zh": "土地", "duration_days": 5, "after": ["signed"]},
    {"key": "planning", "name_zh": "规划许可", "duration_days": 3, "after": ["signed"]},
    {"key": "permit", "name_zh": "施工许可", "duration_days": 2, "after": ["land", "planning"]},
    {"key": "start", "name_zh": "开工", "duration_days": 0, "after": ["permit"]},
    {"key": "utilities", "name_zh": "配套", "duration_days": 2, "after": ["planning"]},
]
RULES = {"node_plans": {"templates": [{"key": "small", "name_zh": "小模板", "nodes": NODES}]}}


def test_default_templates_are_valid_networks() -> None:
    templates = {t.key: t for t in default_rules().node_plans.templates}
    assert set(templates) == {"standard", "chengdu"}
    assert len(templates["chengdu"].nodes) == 32
    assert [n.key for n in templates["standard"].nodes][-1] == "operation"


@pytest.mark.parametrize(
    "nodes",
    [
        [
            {"key": "a", "name_zh": "A", "duration_days": 1, "after": ["b"]},
            {"key": "b", "name_zh": "B", "duration_days": 1, "after": ["a"]},
        ],
        [{"key": "a", "name_zh": "A", "duration_days": 1, "after": ["ghost"]}],
        [{"key": "a", "name_zh": "A", "duration_days": 1}, {"key": "a", "name_zh": "A2", "duration_days": 1}],
        [{"key": "a", "name_zh": "A", "duration_days": -1}],
    ],
)
def test_broken_templates_are_refused(nodes: list[dict[str, Any]]) -> None:
    with pytest.raises(ValidationError):
        NodePlanTemplate.model_validate({"key": "t", "name_zh": "T", "nodes": nodes})


async def test_apply_and_delay_with_2026_holidays(registry: Registry, tap: EventTap) -> None:
    tree = await make_tree(registry, rules={"d0": RULES})
    d = tree.districts[0]
    headers = registry.auth(d, "dispatcher")
    pid = (await create_project(registry, d, name="节点计划项目")).json()["id"]

    listed = await registry.http.get("/v1/node-plan-templates", params={"tenant": d}, headers=headers)
    assert [t["key"] for t in listed.json()["items"]] == ["small"]
    unknown = await registry.http.post(
        f"/v1/projects/{pid}/node-plan", json={"template": "standard"}, headers=headers
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_template"

    r = await registry.http.post(
        f"/v1/projects/{pid}/node-plan", json={"template": "small", "start": "2026-09-17"}, headers=headers
    )
    assert r.status_code == 201, r.text
    plan = {n["key"]: n for n in r.json()["nodes"]}
    dates = {k: (n["planned_start"], n["planned_date"]) for k, n in plan.items()}
    assert dates == {
        "signed": ("2026-09-17", "2026-09-17"),
        "land": ("2026-09-18", "2026-09-23"),  # Fri, Sun 20 (make-up day), Mon, Tue, Wed
        "planning": ("2026-09-18", "2026-09-21"),
        "utilities": ("2026-09-22", "2026-09-23"),
        "permit": ("2026-09-24", "2026-09-28"),  # Thu 24, then 中秋 25–27 off, Mon 28
        "start": ("2026-09-29", "2026-09-29"),
    }
    cal = WorkingCalendar()
    assert all(cal.is_working_day(date.fromisoformat(x)) for pair in dates.values() for x in pair)
    again = await registry.http.post(
        f"/v1/projects/{pid}/node-plan", json={"template": "small"}, headers=headers
    )
    assert again.status_code == 409

    # land slips 3 working days: permit and start (its successors) move across 国庆; nothing else does
    land = plan["land"]["milestone_id"]
    r = await registry.http.post(
        f"/v1/projects/{pid}/node-plan/{land}/delay",
        json={"working_days": 3, "reason": "土地挂牌延期"},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["delayed"]["new_date"] == "2026-09-29" and body["delayed"]["working_days_later"] == 3
    moved = {m["key"]: (m["new_start"], m["new_date"]) for m in body["moved"]}
    assert moved == {"permit": ("2026-09-30", "2026-10-08"), "start": ("2026-10-09", "2026-10-09")}
    assert body["unchanged"] == []
    now = {
        n["key"]: (n["planned_start"], n["planned_date"])
        for n in (await registry.http.get(f"/v1/projects/{pid}/node-plan", headers=headers)).json()["nodes"]
    }
    for key in ("signed", "planning", "utilities"):
        assert now[key] == dates[key]
    assert now["land"] == ("2026-09-18", "2026-09-29")
    assert now["permit"] == moved["permit"] and now["start"] == moved["start"]

    # planning slips to the 22nd: utilities moves; permit has slack now (land finishes later) and stays
    r = await registry.http.post(
        f"/v1/projects/{pid}/node-plan/{plan['planning']['milestone_id']}/delay",
        json={"planned_date": "2026-09-22", "reason": "方案修改"},
        headers=headers,
    )
    body = r.json()
    assert {m["key"]: m["new_date"] for m in body["moved"]} == {"utilities": "2026-09-24"}
    assert sorted(body["unchanged"]) == ["permit", "start"]

    earlier = await registry.http.post(
        f"/v1/projects/{pid}/node-plan/{land}/delay",
        json={"planned_date": "2026-09-01", "reason": "x"},
        headers=headers,
    )
    assert earlier.status_code == 422 and earlier.json()["error"]["code"] == "not_later"
    both = await registry.http.post(
        f"/v1/projects/{pid}/node-plan/{land}/delay",
        json={"planned_date": "2026-12-01", "working_days": 2, "reason": "x"},
        headers=headers,
    )
    assert both.status_code == 422
    sibling = await registry.http.post(
        f"/v1/projects/{pid}/node-plan/{land}/delay",
        json={"working_days": 1, "reason": "x"},
        headers=registry.auth(tree.districts[1], "dispatcher"),
    )
    assert sibling.status_code in (403, 404)

    events = await tap.collect(f"steward.events.{d}.milestone.shifted", expect=2)
    assert events[0]["data"]["moved"] == {
        "land": ["2026-09-23", "2026-09-29"],
        "permit": ["2026-09-28", "2026-10-08"],
        "start": ["2026-09-29", "2026-10-09"],
    }
    applied = await tap.collect(f"steward.events.{d}.node_plan.applied", expect=1)
    assert applied[0]["data"]["planned_completion"] == "2026-09-29"


async def test_chengdu_preset_applies_on_working_days(registry: Registry) -> None:
    tree = await make_tree(registry)
    d = tree.districts[2]
    headers = registry.auth(d, "dispatcher")
    pid = (await create_project(registry, d, planned_start="2026-09-01")).json()["id"]
    r = await registry.http.post(
        f"/v1/projects/{pid}/node-plan", json={"template": "chengdu"}, headers=headers
    )
    assert r.status_code == 201, r.text
    nodes = r.json()["nodes"]
    assert len(nodes) == 32 and nodes[0]["planned_start"] == "2026-09-01"
    cal = WorkingCalendar()
    by_key = {n["key"]: n for n in nodes}
    for n in nodes:
        start, finish = date.fromisoformat(n["planned_start"]), date.fromisoformat(n["planned_date"])
        assert cal.is_working_day(start) and cal.is_working_day(finish)
        for p in n["after"]:
            assert start > date.fromisoformat(by_key[p]["planned_date"])  # after every predecessor
    # the plan's milestones are the project's network plan (Gantt)
    gantt = await registry.http.get(f"/v1/projects/{pid}/plan", headers=headers)
    assert len(gantt.json()["tasks"]) == 32
