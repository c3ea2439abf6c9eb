"""Rules presets over REST: list them, dry-run one, apply one (a new version of the tenant's override)."""

from __future__ import annotations

from sqlalchemy import text

from steward.registry.testing import Registry, Tree, create_project
from steward.rules import preset_names, preset_override


async def test_presets_are_listed_and_readable(registry: Registry, tree: Tree) -> None:
    auth = registry.auth(tree.districts[0], "dispatcher")
    r = await registry.http.get("/v1/rules/presets", headers=auth)
    assert r.status_code == 200, r.text
    items = {p["name"]: p for p in r.json()["items"]}
    assert list(items) == preset_names() == ["shenyang", "fuxin_steward", "anyang", "huiji", "jinniu"]
    assert all(p["summary"] for p in items.values())
    one = (await registry.http.get("/v1/rules/presets/huiji", headers=auth)).json()
    assert one["document"] == items["huiji"]["document"]
    assert one["document"]["matters"]["difficult_answer_days"] == 3
    missing = await registry.http.get("/v1/rules/presets/nowhere", headers=auth)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_preset"
    assert "fuxin_steward" in missing.json()["error"]["message"]
    assert (await registry.http.get("/v1/rules/presets")).status_code == 401


async def test_preset_dry_run_then_apply(registry: Registry, tree: Tree) -> None:
    d = tree.districts[1]
    admin = registry.auth(d, "tenant_admin")
    p = (await create_project(registry, d, name="预设试算", total_investment="2500万")).json()
    assert p["dispatch"]["steward_required"] is False

    dry = await registry.http.post(f"/v1/rules/{d}/presets/fuxin_steward/dry-run", headers=admin)
    assert dry.status_code == 200, dry.text
    out = dry.json()
    assert out["valid"] is True
    assert "thresholds.steward_required_min" in {c["path"] for c in out["changes"]}
    assert {(c["code"], c["field"], c["proposed"]) for c in out["dispatch_changes"]} >= {
        (p["code"], "steward_required", True)
    }
    async with registry.db.read() as s:
        stored = (
            await s.execute(text("SELECT count(*) FROM rules_versions WHERE tenant_code=:t"), {"t": d})
        ).scalar_one()
    assert stored == 0  # a dry run stores nothing

    r = await registry.http.post(f"/v1/rules/{d}/presets/fuxin_steward", json={}, headers=admin)
    assert r.status_code == 201, r.text
    version = r.json()
    assert version["version"] == 1 and version["comment"] == "preset fuxin_steward"
    assert version["document"] == preset_override("fuxin_steward")
    eff = (await registry.http.get(f"/v1/rules/{d}/effective", headers=admin)).json()
    assert eff["document"]["thresholds"]["steward_required_min"] == 20_000_000
    assert [(v["tenant"], v["version"]) for v in eff["versions"]] == [(d, 1)]

    # Same guards as PUT /v1/rules/{tenant}: admins only, in scope only, known presets only.
    r = await registry.http.post(f"/v1/rules/{d}/presets/huiji", headers=registry.auth(d, "dispatcher"))
    assert r.status_code == 403
    other = registry.auth(tree.districts[0], "tenant_admin")
    assert (await registry.http.post(f"/v1/rules/{d}/presets/huiji", headers=other)).status_code == 404
    r = await registry.http.post(f"/v1/rules/{d}/presets/nowhere", headers=admin)
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_preset"
