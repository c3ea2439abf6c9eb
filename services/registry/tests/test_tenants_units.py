"""Tenant tree and units over REST: division codes, nesting, scope, validation."""

from __future__ import annotations

from steward.registry.testing import Registry, Tree


async def test_tenant_tree_create_list_and_ancestry(registry: Registry, tree: Tree) -> None:
    d = tree.districts[0]
    admin = registry.auth(d, "tenant_admin")
    code = f"{d}007"
    r = await registry.http.post(
        "/v1/tenants", json={"code": code, "name": "新街道", "kind": "street", "parent": d}, headers=admin
    )
    assert r.status_code == 201, r.text
    assert r.json()["level"] == "zone" and r.json()["path"].endswith(f"{d}/{code}")
    listed = [t["code"] for t in (await registry.http.get("/v1/tenants", headers=admin)).json()["items"]]
    assert listed == [d, code]
    chain = (await registry.http.get(f"/v1/tenants/{code}/ancestry", headers=admin)).json()["items"]
    assert [t["code"] for t in chain] == [tree.city, d, code]
    city_view = [
        t["code"]
        for t in (await registry.http.get("/v1/tenants", headers=registry.auth(tree.city))).json()["items"]
    ]
    assert set(city_view) >= {tree.city, *tree.districts, tree.zone, tree.township, code}


async def test_tenant_validation_and_scope(registry: Registry, tree: Tree) -> None:
    d0, d1 = tree.districts[0], tree.districts[1]
    admin = registry.auth(d0, "tenant_admin")

    async def post(body: dict[str, str], headers: dict[str, str] = admin) -> tuple[int, str]:
        r = await registry.http.post("/v1/tenants", json=body, headers=headers)
        return r.status_code, r.json()["error"]["code"] if r.status_code >= 400 else ""

    assert await post({"code": "12ab", "name": "x", "kind": "street", "parent": d0}) == (
        422,
        "validation_failed",
    )
    assert await post({"code": f"{d1}001", "name": "x", "kind": "street", "parent": d0}) == (
        422,
        "invalid_tenant_code",
    )
    assert await post({"code": f"{d0}001", "name": "x", "kind": "district", "parent": d0}) == (
        422,
        "invalid_tenant_kind",
    )
    assert await post(
        {"code": tree.township, "name": "x", "kind": "township", "parent": tree.districts[2]},
        registry.auth(tree.city),
    ) == (409, "tenant_exists")
    assert await post({"code": f"{d1}001", "name": "x", "kind": "street", "parent": d1}) == (
        404,
        "unknown_tenant",
    )
    assert await post(
        {"code": f"{d0}001", "name": "x", "kind": "street", "parent": d0}, registry.auth(d0, "dispatcher")
    ) == (403, "role_required")
    assert await post({"code": "999999001", "name": "x", "kind": "street", "parent": "999999"}) == (
        404,
        "unknown_tenant",
    )
    assert (await registry.http.get(f"/v1/tenants/{d1}", headers=admin)).status_code == 404
    assert (await registry.http.get(f"/v1/tenants/{tree.city}", headers=admin)).status_code == 404


async def test_units_and_people(registry: Registry, tree: Tree) -> None:
    d = tree.districts[1]
    admin = registry.auth(d, "tenant_admin")
    r = await registry.http.post(
        "/v1/units",
        json={"tenant": d, "kind": "enterprise", "name": "丙公司", "credit_code": "91110000MA0CCCCC33"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    unit = r.json()
    dup = await registry.http.post(
        "/v1/units", json={"tenant": d, "kind": "enterprise", "name": "丙公司"}, headers=admin
    )
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "unit_exists"
    bad = await registry.http.post(
        "/v1/units",
        json={"tenant": d, "kind": "enterprise", "name": "丁公司", "credit_code": "123"},
        headers=admin,
    )
    assert bad.status_code == 422
    sibling_unit = await registry.http.post(
        "/v1/units", json={"tenant": tree.districts[0], "kind": "department", "name": "外区局"}, headers=admin
    )
    assert sibling_unit.status_code == 404
    listed = (await registry.http.get("/v1/units", params={"kind": "enterprise"}, headers=admin)).json()[
        "items"
    ]
    assert [u["id"] for u in listed] == [unit["id"]]
    p = await registry.http.post(
        "/v1/people",
        json={"tenant": d, "unit_id": unit["id"], "name": "钱经理", "email": "qian@example.com"},
        headers=admin,
    )
    assert p.status_code == 201, p.text
    people = (await registry.http.get("/v1/people", params={"unit_id": unit["id"]}, headers=admin)).json()[
        "items"
    ]
    assert [x["name"] for x in people] == ["钱经理"]
    assert (
        await registry.http.get(f"/v1/units/{unit['id']}", headers=registry.auth(tree.districts[0]))
    ).status_code == 404
    page1 = (await registry.http.get("/v1/people", params={"limit": 1, "tenant": d}, headers=admin)).json()
    assert len(page1["items"]) == 1
