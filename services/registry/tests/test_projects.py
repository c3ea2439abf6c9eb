"""Projects over REST: registration, derived dispatch, scope, validation, lifecycle, listing."""

from __future__ import annotations

from steward.registry.testing import Registry, Tree, create_project, make_tree, project_count

FUXIN_RULE = {"thresholds": {"steward_required_min": "2000万"}}


async def test_fuxin_steward_rule_district_project(registry: Registry) -> None:
    tree = await make_tree(registry, rules={"d0": FUXIN_RULE})
    r = await create_project(
        registry, tree.districts[0], name="工业机器人研发中心", total_investment="2500万"
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["dispatch"]["tier"] == "district"
    assert body["dispatch"]["steward_required"] is True
    assert body["dispatch"]["named_responsibility"] is False
    assert body["total_investment"] == "25000000.00"
    assert body["code"].startswith(f"{tree.districts[0]}-")
    assert f"{tree.districts[0]}@1" in body["dispatch"]["rules_versions"]
    # a sibling district without the rule: same amount, no steward required
    r2 = await create_project(registry, tree.districts[1], total_investment="2500万")
    assert r2.json()["dispatch"]["steward_required"] is False


async def test_large_project_is_city_dispatched_with_named_responsibility(
    registry: Registry, tree: Tree
) -> None:
    r = await create_project(registry, tree.township, total_investment="1.2亿")
    assert r.status_code == 201, r.text
    d = r.json()["dispatch"]
    assert (d["tier"], d["named_responsibility"], d["on_platform"]) == ("city", True, True)
    small = (await create_project(registry, tree.township, total_investment="400万")).json()["dispatch"]
    assert (small["tier"], small["on_platform"]) == ("none", False)
    zone = (await create_project(registry, tree.township, total_investment="800万")).json()["dispatch"]
    assert zone["tier"] == "zone"


async def test_codes_are_sequential_per_tenant_and_year_and_unique(registry: Registry, tree: Tree) -> None:
    codes = [(await create_project(registry, tree.districts[1])).json()["code"] for _ in range(3)]
    seqs = [int(c.rsplit("-", 1)[1]) for c in codes]
    assert seqs == sorted(seqs) and len(set(codes)) == 3
    assert seqs[1] == seqs[0] + 1


async def test_invalid_input_is_4xx_and_writes_nothing(registry: Registry, tree: Tree) -> None:
    before = await project_count(registry, tree.city[:4])
    cases = [
        ({"total_investment": "-5"}, 422, "validation_failed"),
        ({"total_investment": 12.345}, 422, "validation_failed"),
        ({"total_investment": "12.345"}, 422, "validation_failed"),
        ({"total_investment": "abc"}, 422, "validation_failed"),
        ({"stage": "flying"}, 422, "validation_failed"),
        ({"funding_type": "crypto"}, 422, "validation_failed"),
        ({"location": {"lat": 123, "lon": 0}}, 422, "validation_failed"),
        ({"location": {"lat": 31.2, "lon": False}}, 422, "validation_failed"),  # a number, not a bool
        ({"location": {"lat": "31.2", "lon": 121}}, 422, "validation_failed"),  # nor a string
        ({"planned_start": "2027-01-01", "planned_completion": "2026-01-01"}, 422, "validation_failed"),
        ({"owner_unit_id": "00000000-0000-0000-0000-000000000000"}, 422, "invalid_owner"),
        ({"stage": "terminated"}, 422, "invalid_stage"),
        ({"surprise": 1}, 422, "validation_failed"),
    ]
    for extra, status, code in cases:
        r = await create_project(registry, tree.districts[0], **extra)
        assert r.status_code == status, (extra, r.text)
        err = r.json()["error"]
        assert err["code"] == code, (extra, err)
        assert err["message"] and err.get("request_id")
    r = await create_project(registry, "999999", token_tenant=tree.districts[0])
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_tenant"
    r = await create_project(registry, "999999")  # a token of that unknown tenant: refused outright
    assert r.status_code == 403 and r.json()["error"]["code"] == "unknown_token_tenant"
    r = await registry.http.post(
        "/v1/projects",
        content=b"{not json",
        headers={**registry.auth(tree.city, "dispatcher"), "content-type": "application/json"},
    )
    assert r.status_code == 422
    assert await project_count(registry, tree.city[:4]) == before


async def test_sibling_district_cannot_read_or_change(registry: Registry, tree: Tree) -> None:
    a, b = tree.districts[0], tree.districts[1]
    project = (await create_project(registry, a, total_investment="5000万")).json()
    pid = project["id"]
    theirs = registry.auth(b, "tenant_admin")
    assert (await registry.http.get(f"/v1/projects/{pid}", headers=theirs)).status_code == 404
    assert (await registry.http.get(f"/v1/projects/{project['code']}", headers=theirs)).status_code == 404
    r = await registry.http.patch(f"/v1/projects/{pid}", json={"name": "hijack"}, headers=theirs)
    assert r.status_code == 404
    r = await registry.http.post(
        f"/v1/projects/{pid}/transitions", json={"to_stage": "signed", "reason": "x"}, headers=theirs
    )
    assert r.status_code == 404
    r = await create_project(registry, a, token_tenant=b)
    assert r.status_code == 404  # a sibling's tenant is invisible, too
    listed = (await registry.http.get("/v1/projects", params={"limit": 200}, headers=theirs)).json()["items"]
    assert pid not in {p["id"] for p in listed}
    r = await registry.http.get("/v1/projects", params={"tenant": a}, headers=theirs)
    assert r.status_code == 404
    # the city sees it; the owning district sees it
    assert (
        await registry.http.get(f"/v1/projects/{pid}", headers=registry.auth(tree.city, "dispatcher"))
    ).status_code == 200
    assert (
        await registry.http.get(f"/v1/projects/{pid}", headers=registry.auth(a, "dispatcher"))
    ).status_code == 200
    fetched = (await registry.http.get(f"/v1/projects/{pid}", headers=registry.auth(a, "dispatcher"))).json()
    assert fetched["name"] == project["name"]


async def test_enterprise_contact_sees_only_own_projects(registry: Registry, tree: Tree) -> None:
    d = tree.districts[2]
    admin = registry.auth(d, "tenant_admin")
    units = []
    for name, credit in (("甲公司", "91110000MA0AAAAA11"), ("乙公司", "91110000MA0BBBBB22")):
        r = await registry.http.post(
            "/v1/units",
            json={"tenant": d, "kind": "enterprise", "name": f"{name}{tree.city}", "credit_code": credit},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        units.append(r.json()["id"])
    mine = (await create_project(registry, d, owner_unit_id=units[0])).json()
    other = (await create_project(registry, d, owner_unit_id=units[1])).json()
    ent = registry.auth(d, "enterprise_contact", sub="ent-a", unit=units[0])
    assert (await registry.http.get(f"/v1/projects/{mine['id']}", headers=ent)).status_code == 200
    assert (await registry.http.get(f"/v1/projects/{other['id']}", headers=ent)).status_code == 404
    listed = (await registry.http.get("/v1/projects", headers=ent)).json()["items"]
    assert {p["id"] for p in listed} == {mine["id"]}
    r = await registry.http.post(
        f"/v1/projects/{mine['id']}/transitions", json={"to_stage": "signed", "reason": "x"}, headers=ent
    )
    assert r.status_code == 403
    no_unit = registry.auth(d, "enterprise_contact", sub="ent-x")
    assert (await registry.http.get("/v1/projects", headers=no_unit)).json()["items"] == []


async def test_lifecycle_transitions_are_guarded_and_recorded(registry: Registry, tree: Tree) -> None:
    pid = (await create_project(registry, tree.zone)).json()["id"]
    hdr = registry.auth(tree.zone, "dispatcher", sub="zhang")

    async def move(stage: str, reason: str = "进展") -> int:
        r = await registry.http.post(
            f"/v1/projects/{pid}/transitions", json={"to_stage": stage, "reason": reason}, headers=hdr
        )
        return r.status_code

    assert await move("operating") == 409
    assert await move("signed", "签约仪式完成") == 200
    assert await move("preparing") == 200
    assert await move("suspended", "资金未到位") == 200
    assert await move("continuing") == 409  # resumes only where it stopped
    assert await move("preparing", "资金到位，恢复") == 200
    assert await move("new_start") == 200
    r = await registry.http.post(
        f"/v1/projects/{pid}/transitions", json={"to_stage": "negotiating", "reason": "x"}, headers=hdr
    )
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "invalid_transition" and "allowed" in err["details"][0]["message"]
    assert (
        await registry.http.post(f"/v1/projects/{pid}/transitions", json={"to_stage": "signed"}, headers=hdr)
    ).status_code == 422  # reason required
    hist = (await registry.http.get(f"/v1/projects/{pid}/history", headers=hdr)).json()
    stages = [(h["from_stage"], h["to_stage"]) for h in hist["items"]]
    assert stages == [
        (None, "negotiating"),
        ("negotiating", "signed"),
        ("signed", "preparing"),
        ("preparing", "suspended"),
        ("suspended", "preparing"),
        ("preparing", "new_start"),
    ]
    assert hist["items"][3]["reason"] == "资金未到位" and hist["items"][3]["actor"] == "zhang"
    assert set(hist["allowed_next"]) == {"continuing", "completed", "suspended", "terminated"}
    assert (await registry.http.get(f"/v1/projects/{pid}", headers=hdr)).json()["stage"] == "new_start"


async def test_update_revalues_and_optimistic_lock(registry: Registry, tree: Tree) -> None:
    hdr = registry.auth(tree.districts[1], "dispatcher")
    p = (await create_project(registry, tree.districts[1], total_investment="4000万")).json()
    assert p["dispatch"]["tier"] == "district"
    r = await registry.http.patch(
        f"/v1/projects/{p['id']}",
        json={"total_investment": "1.5亿", "expected_version": p["row_version"]},
        headers=hdr,
    )
    assert r.status_code == 200, r.text
    up = r.json()
    assert up["dispatch"]["tier"] == "city" and up["dispatch"]["named_responsibility"] is True
    stale = await registry.http.patch(
        f"/v1/projects/{p['id']}", json={"name": "x", "expected_version": 1}, headers=hdr
    )
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_version"
    bad = await registry.http.patch(f"/v1/projects/{p['id']}", json={"total_investment": "-1"}, headers=hdr)
    assert bad.status_code == 422
    again = (await registry.http.get(f"/v1/projects/{p['id']}", headers=hdr)).json()
    assert again["total_investment"] == "150000000.00" and again["row_version"] == up["row_version"]


async def test_listing_filters_and_keyset_pagination(registry: Registry, tree: Tree) -> None:
    t = tree.districts[2]
    hdr = registry.auth(t, "dispatcher")
    amounts = ["1000万", "2000万", "3000万", "4000万", "5000万", "6000万", "1.2亿"]
    made = [
        (await create_project(registry, t, name=f"分页项目{i}", total_investment=a)).json()
        for i, a in enumerate(amounts)
    ]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"tenant": t, "limit": 3, "q": "分页项目"}
        if cursor:
            params["cursor"] = cursor
        page = (await registry.http.get("/v1/projects", params=params, headers=hdr)).json()
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [p["id"] for p in reversed(made)]
    city_tier = (
        await registry.http.get(
            "/v1/projects", params={"tenant": t, "tier": "city", "q": "分页项目"}, headers=hdr
        )
    ).json()["items"]
    assert [p["name"] for p in city_tier] == ["分页项目6"]
    bad = await registry.http.get("/v1/projects", params={"cursor": "%%%"}, headers=hdr)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_cursor"
    assert (await registry.http.get("/v1/projects", params={"limit": 0}, headers=hdr)).status_code == 422
    assert (
        await registry.http.get("/v1/projects", params={"stage": "flying"}, headers=hdr)
    ).status_code == 422


async def test_authentication_is_required(registry: Registry) -> None:
    r = await registry.http.get("/v1/projects")
    assert r.status_code == 401 and r.json()["error"]["code"] == "missing_token"
    r = await registry.http.get("/v1/projects", headers={"Authorization": "Bearer not-a-jwt"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"
