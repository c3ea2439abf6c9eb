"""Responsibility rosters: templates from rules, assignments, completeness, masking."""

from __future__ import annotations

from typing import Any

from steward.registry.testing import Registry, Tree, create_project, make_tree
from steward.rules import preset_override


async def _person(reg: Registry, tenant: str, name: str, **extra: Any) -> dict[str, Any]:
    r = await reg.http.post(
        "/v1/people", json={"tenant": tenant, "name": name, **extra}, headers=reg.auth(tenant, "tenant_admin")
    )
    assert r.status_code == 201, r.text
    return r.json()


async def _unit(reg: Registry, tenant: str, name: str, kind: str = "department") -> dict[str, Any]:
    r = await reg.http.post(
        "/v1/units",
        json={"tenant": tenant, "kind": kind, "name": name},
        headers=reg.auth(tenant, "tenant_admin"),
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_six_ones_roster_with_steward_and_completeness(registry: Registry) -> None:
    tree = await make_tree(registry, rules={"d2": preset_override("fuxin_steward")})
    d = tree.districts[2]
    hdr = registry.auth(d, "dispatcher")
    project = (await create_project(registry, d, name="六个一项目", total_investment="2500万")).json()
    roster = (await registry.http.get(f"/v1/projects/{project['id']}/roster", headers=hdr)).json()
    assert roster["complete"] is False
    assert {"steward", "leader", "lead_unit", "service_team", "enterprise_contact"} <= set(
        roster["missing_roles"]
    )
    assert "secretary" not in roster["missing_roles"]  # only for major projects
    steward = await _person(registry, d, "王管家", phone="13912345678")
    lead = await _unit(registry, d, f"发改局{tree.city}")
    r = await registry.http.post(
        f"/v1/projects/{project['id']}/roster",
        json={"role_key": "steward", "person_id": steward["id"]},
        headers=hdr,
    )
    assert r.status_code == 201, r.text
    assert r.json()["holder"]["person_name"] == "王管家"
    again = await registry.http.post(
        f"/v1/projects/{project['id']}/roster",
        json={"role_key": "steward", "person_id": steward["id"]},
        headers=hdr,
    )
    assert again.status_code == 409
    other = await _person(registry, d, "李管家")
    full = await registry.http.post(
        f"/v1/projects/{project['id']}/roster",
        json={"role_key": "steward", "person_id": other["id"]},
        headers=hdr,
    )
    assert full.status_code == 409 and full.json()["error"]["code"] == "role_full"
    wrong = await registry.http.post(
        f"/v1/projects/{project['id']}/roster",
        json={"role_key": "lead_unit", "person_id": steward["id"]},
        headers=hdr,
    )
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "holder_required"
    unknown = await registry.http.post(
        f"/v1/projects/{project['id']}/roster",
        json={"role_key": "commander", "person_id": steward["id"]},
        headers=hdr,
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_role"
    assert (
        await registry.http.post(
            f"/v1/projects/{project['id']}/roster",
            json={"role_key": "lead_unit", "unit_id": lead["id"]},
            headers=hdr,
        )
    ).status_code == 201
    comp = (await registry.http.get("/v1/rosters/completeness", params={"tenant": d}, headers=hdr)).json()
    item = next(i for i in comp["items"] if i["project_id"] == project["id"])
    assert "steward" not in item["missing_roles"] and "lead_unit" not in item["missing_roles"]
    assert "leader" in item["missing_roles"]
    # ending an assignment brings the role back as missing
    roster = (await registry.http.get(f"/v1/projects/{project['id']}/roster", headers=hdr)).json()
    steward_role = next(r for r in roster["roles"] if r["key"] == "steward")
    aid = steward_role["assignments"][0]["id"]
    assert (
        await registry.http.delete(f"/v1/projects/{project['id']}/roster/{aid}", headers=hdr)
    ).status_code == 204
    assert (
        await registry.http.delete(f"/v1/projects/{project['id']}/roster/{aid}", headers=hdr)
    ).status_code == 404
    roster = (await registry.http.get(f"/v1/projects/{project['id']}/roster", headers=hdr)).json()
    assert "steward" in roster["missing_roles"]


async def test_named_responsibility_roles_for_large_projects(registry: Registry, tree: Tree) -> None:
    hdr = registry.auth(tree.city, "dispatcher")
    big = (await create_project(registry, tree.districts[0], total_investment="1.2亿")).json()
    small = (await create_project(registry, tree.districts[0], total_investment="3000万")).json()
    big_missing = (await registry.http.get(f"/v1/projects/{big['id']}/roster", headers=hdr)).json()[
        "missing_roles"
    ]
    small_missing = (await registry.http.get(f"/v1/projects/{small['id']}/roster", headers=hdr)).json()[
        "missing_roles"
    ]
    assert {"responsible_leader", "guarantor_leader", "responsible_unit"} <= set(big_missing)
    assert not {"responsible_leader", "guarantor_leader"} & set(small_missing)


async def test_phone_numbers_are_masked_for_roles_that_do_not_need_them(
    registry: Registry, tree: Tree
) -> None:
    d = tree.districts[1]
    person = await _person(registry, d, "赵联系人", phone="13812345678")
    assert person["phone"] == "13812345678"  # tenant_admin sees it
    masked = (
        await registry.http.get(f"/v1/people/{person['id']}", headers=registry.auth(d, "auditor"))
    ).json()
    assert masked["phone"] == "138****5678"
    bad = await registry.http.post(
        "/v1/people",
        json={"tenant": d, "name": "x", "phone": "12345"},
        headers=registry.auth(d, "tenant_admin"),
    )
    assert bad.status_code == 422
    assert (
        await registry.http.get(
            f"/v1/people/{person['id']}", headers=registry.auth(tree.districts[0], "tenant_admin")
        )
    ).status_code == 404
