"""Tenant rules over REST: inheritance, versions, effective dates, validation, dry-run."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from steward.kit.db import utcnow
from steward.kit.straight import held_connection
from steward.kit.testing import Greenlets
from steward.registry.rules.service import versions_in_force
from steward.registry.testing import Registry, Tree, create_project, make_tree


async def _versions(reg: Registry, tenant: str) -> int:
    async with reg.db.read() as session:
        return int(
            (
                await session.execute(
                    text("SELECT count(*) FROM rules_versions WHERE tenant_code=:t"), {"t": tenant}
                )
            ).scalar_one()
        )


async def test_effective_rules_inherit_from_parent(registry: Registry) -> None:
    tree = await make_tree(
        registry,
        rules={
            "city": {"thresholds": {"platform_min": "600万"}},
            "d0": {"thresholds": {"steward_required_min": "2000万"}},
        },
    )
    r = await registry.http.get(
        f"/v1/rules/{tree.districts[0]}/effective", headers=registry.auth(tree.districts[0])
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["document"]["thresholds"]["platform_min"] == 6_000_000
    assert doc["document"]["thresholds"]["steward_required_min"] == 20_000_000
    assert [(v["tenant"], v["version"]) for v in doc["versions"]] == [(tree.city, 1), (tree.districts[0], 1)]
    sibling = (
        await registry.http.get(f"/v1/rules/{tree.districts[1]}/effective", headers=registry.auth(tree.city))
    ).json()
    assert sibling["document"]["thresholds"]["steward_required_min"] is None
    assert sibling["document"]["thresholds"]["platform_min"] == 6_000_000
    # a district cannot read a sibling's rules
    r = await registry.http.get(
        f"/v1/rules/{tree.districts[1]}/effective", headers=registry.auth(tree.districts[0])
    )
    assert r.status_code == 404


async def test_threshold_change_applies_from_effective_date_and_keeps_history(
    registry: Registry, tree: Tree
) -> None:
    d = tree.districts[2]
    admin = registry.auth(d, "tenant_admin")
    before = (await create_project(registry, d, total_investment="2500万")).json()
    assert before["dispatch"]["steward_required"] is False
    # far enough ahead that the next registration lands before it even when the host stalls (a PUT
    # took 2.6 s on a loaded CI machine and a 2 s margin was gone)
    starts = datetime.now(UTC) + timedelta(seconds=6)
    r = await registry.http.put(
        f"/v1/rules/{d}",
        json={
            "document": {"thresholds": {"steward_required_min": "2000万"}},
            "effective_from": starts.isoformat(),
            "comment": "adopt Fuxin's steward rule",
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1
    early = (await create_project(registry, d, total_investment="2500万")).json()
    assert datetime.now(UTC) < starts, "the host stalled past the margin: nothing below can be judged"
    assert early["dispatch"]["steward_required"] is False, "not in force before its effective date"
    await asyncio.sleep(max(0.0, (starts - datetime.now(UTC)).total_seconds()) + 0.3)
    after = (await create_project(registry, d, total_investment="2500万")).json()
    assert after["dispatch"]["steward_required"] is True
    assert f"{d}@1" in after["dispatch"]["rules_versions"]
    # stored derivations are history: untouched
    for old in (before, early):
        again = (await registry.http.get(f"/v1/projects/{old['id']}", headers=admin)).json()
        assert again["dispatch"] == old["dispatch"]
    past = await registry.http.get(
        f"/v1/rules/{d}/effective", params={"at": (starts - timedelta(seconds=1)).isoformat()}, headers=admin
    )
    assert past.json()["document"]["thresholds"]["steward_required_min"] is None
    versions = (await registry.http.get(f"/v1/rules/{d}/versions", headers=admin)).json()["items"]
    assert [v["version"] for v in versions] == [1] and versions[0]["comment"] == "adopt Fuxin's steward rule"


async def test_bad_rules_documents_are_rejected_and_nothing_is_stored(registry: Registry, tree: Tree) -> None:
    d = tree.districts[0]
    admin = registry.auth(d, "tenant_admin")
    bad_docs = [
        {"thresholds": {"platform_min": "-5"}},
        {"thresholds": {"steward_required_min": "12.345"}},
        {
            "thresholds": {
                "dispatch_tiers": [
                    {"tier": "city", "min_investment": 1},
                    {"tier": "zone", "min_investment": 2},
                ]
            }
        },
        {"thresholdz": {}},
        {"roster": {"roles": [{"key": "Bad Key", "name_zh": "x", "name_en": "x"}]}},
        {"reports": "weekly"},
    ]
    for doc in bad_docs:
        r = await registry.http.put(f"/v1/rules/{d}", json={"document": doc}, headers=admin)
        assert r.status_code == 422, (doc, r.text)
        err = r.json()["error"]
        assert err["code"] in ("invalid_rules", "validation_failed"), err
        assert err["details"], err
    r = await registry.http.put(f"/v1/rules/{d}", json={"document": ["not", "a", "mapping"]}, headers=admin)
    assert r.status_code == 422
    r = await registry.http.put(
        f"/v1/rules/{d}", json={"document": {}, "effective_from": "2020-01-01T00:00:00Z"}, headers=admin
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "effective_from_in_past"
    r = await registry.http.put("/v1/rules/999999", json={"document": {}}, headers=registry.auth(tree.city))
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_tenant"
    assert await _versions(registry, d) == 0


async def test_only_admins_in_scope_may_change_rules(registry: Registry, tree: Tree) -> None:
    a, b = tree.districts[0], tree.districts[1]
    doc = {"document": {"thresholds": {"platform_min": "800万"}}}
    r = await registry.http.put(f"/v1/rules/{a}", json=doc, headers=registry.auth(a, "dispatcher"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "role_required"
    r = await registry.http.put(f"/v1/rules/{a}", json=doc, headers=registry.auth(b, "tenant_admin"))
    assert r.status_code == 404
    r = await registry.http.put(f"/v1/rules/{tree.city}", json=doc, headers=registry.auth(a, "tenant_admin"))
    assert r.status_code == 404  # an ancestor is outside a district's subtree
    r = await registry.http.put(f"/v1/rules/{a}", json=doc, headers=registry.auth(tree.city, "tenant_admin"))
    assert r.status_code == 201  # the city may set a district's rules
    assert await _versions(registry, a) == 1


async def test_dry_run_shows_document_and_project_effects_without_storing(
    registry: Registry, tree: Tree
) -> None:
    d = tree.districts[1]
    admin = registry.auth(d, "tenant_admin")
    p = (await create_project(registry, d, name="试算项目", total_investment="2500万")).json()
    r = await registry.http.post(
        f"/v1/rules/{d}/dry-run",
        json={"document": {"thresholds": {"steward_required_min": "2000万"}}},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["valid"] is True
    assert any(
        c["path"] == "thresholds.steward_required_min" and c["new"] == 20_000_000 for c in out["changes"]
    )
    hits = [c for c in out["dispatch_changes"] if c["project_id"] == p["id"]]
    assert hits == [
        {
            "project_id": p["id"],
            "code": p["code"],
            "name": "试算项目",
            "field": "steward_required",
            "current": False,
            "proposed": True,
        }
    ]
    assert any(c["project_id"] == p["id"] and "steward" in c["proposed"] for c in out["roster_changes"])
    bad = (
        await registry.http.post(f"/v1/rules/{d}/dry-run", json={"document": {"nope": 1}}, headers=admin)
    ).json()
    assert bad["valid"] is False and bad["errors"]
    assert await _versions(registry, d) == 0
    unchanged = (await registry.http.get(f"/v1/projects/{p['id']}", headers=admin)).json()
    assert unchanged["dispatch"]["steward_required"] is False


async def test_schema_endpoint(registry: Registry, tree: Tree) -> None:
    r = await registry.http.get("/v1/rules/schema")
    assert r.status_code == 200
    assert "thresholds" in r.json()["document"]["properties"]


async def test_the_versions_in_force_are_read_straight_through_the_driver(registry: Registry) -> None:
    """Every registration asks which versions are in force: through the driver, without SQLAlchemy's
    ORM execution (a greenlet per call, about a tenth of a registration's CPU)."""
    tree = await make_tree(registry, rules={"d0": {"thresholds": {"steward_required_min": "2000万"}}})
    codes = [tree.city, tree.districts[0]]
    async with registry.db.transaction() as session:
        await held_connection(session)
        with Greenlets() as started:
            found = [await versions_in_force(session, codes=codes, at=utcnow()) for _ in range(20)]
    assert len(started.started) < 20  # one per call through the ORM session (a relay round may add a few)
    assert {(v.tenant_code, v.version) for v in found[-1]} >= {(tree.districts[0], 1)}
    assert all(isinstance(v.id, uuid.UUID) and v.effective_from.tzinfo is not None for v in found[-1])


async def test_the_version_in_force_is_each_tenants_latest_effective_one(registry: Registry) -> None:
    """Per tenant the version with the latest effective date not after ``at``, the higher version
    number between two of the same date; none for a tenant without one in force."""
    tree = await make_tree(registry)
    a, b, c = tree.city, tree.districts[0], tree.districts[1]
    t0 = utcnow() - timedelta(days=10)
    rows = [  # (tenant, version, effective_from)
        (a, 1, t0),
        (a, 2, t0 + timedelta(days=2)),
        (a, 3, t0 + timedelta(days=20)),  # in the future
        (b, 1, t0 + timedelta(days=1)),
        (b, 2, t0 + timedelta(days=1)),  # the same date: the higher version wins
        (c, 1, t0 + timedelta(days=30)),  # nothing in force yet
    ]
    async with registry.db.transaction() as session:
        await session.execute(
            text("DELETE FROM rules_versions WHERE tenant_code = ANY(:codes)"), {"codes": [a, b, c]}
        )
        for tenant, version, at in rows:
            await session.execute(
                text(
                    "INSERT INTO rules_versions (id, tenant_code, version, document, effective_from, comment, "
                    "created_by, created_at) VALUES (:id, :t, :v, '{}', :at, '', 'test', now())"
                ),
                {"id": uuid.uuid4(), "t": tenant, "v": version, "at": at},
            )
    async with registry.db.read() as session:
        now = await versions_in_force(session, codes=[a, b, c], at=utcnow())
        early = await versions_in_force(session, codes=[a, b, c], at=t0 + timedelta(hours=1))
        before = await versions_in_force(session, codes=[a, b], at=t0 - timedelta(seconds=1))
    assert [(v.tenant_code, v.version) for v in now] == [(a, 2), (b, 2)]  # root first
    assert [(v.tenant_code, v.version) for v in early] == [(a, 1)]
    assert before == []
