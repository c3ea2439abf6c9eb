"""Node-plan changes: the owner proposes new planned node dates, the lead department (牵头单位)
approves — only then do they take effect, successors pushed — or rejects with a reason. Dates as in
test_node_plans (2026: 中秋 Sep 25–27 and 国庆 Oct 1–7 off, Sep 20 and Oct 10 make-up working days)."""

from __future__ import annotations

from typing import Any

from steward.registry.testing import EventTap, Registry, create_project, make_tree
from steward.rules import preset_override

NODES = [
    {"key": "signed", "name_zh": "签约", "duration_days": 0},
    {"key": "land", "name_zh": "土地", "duration_days": 5, "after": ["signed"]},
    {"key": "planning", "name_zh": "规划许可", "duration_days": 3, "after": ["signed"]},
    {"key": "permit", "name_zh": "施工许可", "duration_days": 2, "after": ["land", "planning"]},
    {"key": "start", "name_zh": "开工", "duration_days": 0, "after": ["permit"]},
    {"key": "utilities", "name_zh": "配套", "duration_days": 2, "after": ["planning"]},
]


async def _unit(reg: Registry, tenant: str, name: str, kind: str) -> str:
    r = await reg.http.post(
        "/v1/units",
        json={"tenant": tenant, "kind": kind, "name": name},
        headers=reg.auth(tenant, "tenant_admin"),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _plan(reg: Registry, pid: str, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    r = await reg.http.get(f"/v1/projects/{pid}/node-plan", headers=headers)
    return {n["key"]: n for n in r.json()["nodes"]}


async def test_owner_proposes_lead_department_approves_or_rejects(registry: Registry, tap: EventTap) -> None:
    rules = preset_override("fuxin_steward")
    rules["node_plans"] = {"templates": [{"key": "small", "name_zh": "小模板", "nodes": NODES}]}
    tree = await make_tree(registry, rules={"d1": rules})
    d = tree.districts[1]
    hdr = registry.auth(d, "dispatcher")
    owner_unit = await _unit(registry, d, f"业主公司{tree.city}", "enterprise")
    other_owner = await _unit(registry, d, f"别的公司{tree.city}", "enterprise")
    lead = await _unit(registry, d, f"发改局{tree.city}", "department")
    other_dept = await _unit(registry, d, f"住建局{tree.city}", "department")
    pid = (await create_project(registry, d, name="节点调整项目", owner_unit_id=owner_unit)).json()["id"]
    r = await registry.http.post(
        f"/v1/projects/{pid}/node-plan", json={"template": "small", "start": "2026-09-17"}, headers=hdr
    )
    assert r.status_code == 201, r.text
    plan = await _plan(registry, pid, hdr)
    land, planning, utilities = (plan[k]["milestone_id"] for k in ("land", "planning", "utilities"))
    owner = registry.auth(d, "enterprise_contact", sub="owner-1", unit=owner_unit)
    changes = f"/v1/projects/{pid}/node-plan/changes"
    land_later = {"items": [{"milestone_id": land, "planned_date": "2026-09-29"}], "reason": "土地挂牌延期"}

    # nobody to approve yet: refused, nothing written
    r = await registry.http.post(changes, json=land_later, headers=owner)
    assert r.status_code == 422 and r.json()["error"]["code"] == "no_lead_department"
    r = await registry.http.post(
        f"/v1/projects/{pid}/roster", json={"role_key": "lead_unit", "unit_id": lead}, headers=hdr
    )
    assert r.status_code == 201, r.text

    # only the owner (or a planner) proposes
    r = await registry.http.post(
        changes, json=land_later, headers=registry.auth(d, "enterprise_contact", unit=other_owner)
    )
    assert r.status_code in (403, 404)
    r = await registry.http.post(changes, json=land_later, headers=owner)
    assert r.status_code == 201, r.text
    change = r.json()
    assert change["status"] == "pending" and change["approver_unit_ids"] == [lead]
    assert (
        change["items"][0]["old_date"] == "2026-09-23" and change["items"][0]["planned_date"] == "2026-09-29"
    )
    assert (await _plan(registry, pid, hdr))["land"]["planned_date"] == "2026-09-23"  # not yet in effect
    again = await registry.http.post(changes, json=land_later, headers=owner)
    assert again.status_code == 409 and again.json()["error"]["code"] == "change_pending"

    # only the lead department decides
    approve = f"{changes}/{change['id']}/approve"
    for who in (owner, hdr, registry.auth(d, "dispatcher", unit=other_dept)):
        r = await registry.http.post(approve, headers=who)
        assert r.status_code == 403 and r.json()["error"]["code"] == "not_the_lead_department", r.text
    lead_hdr = registry.auth(d, "dispatcher", sub="lead-1", unit=lead)
    r = await registry.http.post(approve, headers=lead_hdr)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "approved" and body["decided_by"] == "lead-1"
    assert body["moved"] == {
        "land": ["2026-09-23", "2026-09-29"],
        "permit": ["2026-09-28", "2026-10-08"],
        "start": ["2026-09-29", "2026-10-09"],
    }
    now = await _plan(registry, pid, hdr)
    assert {k: now[k]["planned_date"] for k in now} == {
        "signed": "2026-09-17",
        "land": "2026-09-29",
        "planning": "2026-09-21",
        "utilities": "2026-09-23",
        "permit": "2026-10-08",
        "start": "2026-10-09",
    }
    r = await registry.http.post(approve, headers=lead_hdr)
    assert r.status_code == 409 and r.json()["error"]["code"] == "change_decided"

    # rejected with a reason: nothing moves
    r = await registry.http.post(
        changes,
        json={"items": [{"milestone_id": planning, "planned_date": "2026-09-22"}], "reason": "方案修改"},
        headers=owner,
    )
    assert r.status_code == 201, r.text
    reject = f"{changes}/{r.json()['id']}/reject"
    assert (await registry.http.post(reject, json={}, headers=lead_hdr)).status_code == 422  # reason needed
    r = await registry.http.post(reject, json={"reason": "影响施工许可"}, headers=lead_hdr)
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert r.json()["decision_reason"] == "影响施工许可" and r.json()["moved"] == {}
    assert (await _plan(registry, pid, hdr))["planning"]["planned_date"] == "2026-09-21"

    # earlier than its predecessors allow: the approval is refused and the change stays pending
    r = await registry.http.post(
        changes,
        json={"items": [{"milestone_id": utilities, "planned_date": "2026-09-21"}], "reason": "提前"},
        headers=owner,
    )
    assert r.status_code == 201, r.text
    early = r.json()["id"]
    r = await registry.http.post(f"{changes}/{early}/approve", headers=lead_hdr)
    assert r.status_code == 422 and r.json()["error"]["code"] == "before_predecessors"
    listed = (await registry.http.get(changes, headers=hdr)).json()["items"]
    assert [c["status"] for c in listed] == ["pending", "rejected", "approved"]
    assert (await _plan(registry, pid, hdr))["utilities"]["planned_date"] == "2026-09-23"

    requested = await tap.collect(f"steward.events.{d}.node_plan_change.requested", expect=3)
    assert requested[0]["data"]["dates"] == {"land": ["2026-09-23", "2026-09-29"]}
    approved = await tap.collect(f"steward.events.{d}.node_plan_change.approved", expect=1)
    assert approved[0]["data"]["moved"]["start"] == ["2026-09-29", "2026-10-09"]
    rejected = await tap.collect(f"steward.events.{d}.node_plan_change.rejected", expect=1)
    assert rejected[0]["data"]["reason"] == "影响施工许可"
