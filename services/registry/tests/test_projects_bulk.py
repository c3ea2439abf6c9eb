"""POST /v1/projects/bulk: the single registration's rules for every item, all or nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa

from steward.registry.projects import bulk
from steward.registry.testing import EventTap, Registry, Tree, create_project, make_tree, project_count

INVESTMENTS = ("400万", "800万", "2500万", "1.2亿", "3亿")


async def post_bulk(reg: Registry, token_tenant: str, items: list[dict[str, Any]], *roles: str) -> Any:
    return await reg.http.post(
        "/v1/projects/bulk",
        json={"items": items},
        headers=reg.auth(token_tenant, *(roles or ("dispatcher",))),
    )


async def scalar(reg: Registry, sql: str, **params: Any) -> Any:
    async with reg.db.read() as session:
        return (await session.execute(sa.text(sql), params)).scalar_one()


async def test_a_good_batch_registers_every_item_like_single_registration(
    registry: Registry, tap: EventTap
) -> None:
    tree = await make_tree(registry, rules={"d0": {"thresholds": {"steward_required_min": "2000万"}}})
    d0, township = tree.districts[0], tree.township
    # the single path first: its codes and dispatch are what the batch must continue and match
    singles = {}
    for tenant in (d0, township):
        for amount in INVESTMENTS:
            r = await create_project(registry, tenant, total_investment=amount)
            assert r.status_code == 201, r.text
            singles[(tenant, amount)] = r.json()
    last_single = {
        t: max(int(v["code"].rsplit("-", 1)[1]) for k, v in singles.items() if k[0] == t)
        for t in (d0, township)
    }
    items = [
        {"tenant": (d0, township)[i % 2], "name": f"批量项目{i}", "total_investment": INVESTMENTS[i % 5]}
        for i in range(30)
    ]
    items[3].update(
        funding_type="government",
        stage="signed",
        major=True,
        industry="新能源",
        location={"lat": 41.8, "lon": 123.4, "address": "创新路1号"},
        planned_start="2026-03-01",
        planned_completion="2027-12-31",
    )
    r = await post_bulk(registry, tree.city, items)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["count"] == 30 and [it["index"] for it in body["items"]] == list(range(30))
    ids = [it["id"] for it in body["items"]]
    for it, sent in zip(body["items"], items, strict=True):
        single = singles[(sent["tenant"], sent["total_investment"])]["dispatch"]
        for key in (
            "tier",
            "on_platform",
            "steward_required",
            "named_responsibility",
            "reasons",
            "rules_versions",
        ):
            assert it["dispatch"][key] == single[key], (sent, key)
    # the stored derivation (the dispatch's history) has exactly the fields a single registration's has
    single_id = singles[(items[0]["tenant"], items[0]["total_investment"])]["id"]
    async with registry.db.read() as session:
        keys = dict(
            (
                await session.execute(
                    sa.text(
                        "SELECT id::text, array(SELECT jsonb_object_keys(derivation) ORDER BY 1) FROM projects "
                        "WHERE id::text IN (:a, :b)"
                    ),
                    {"a": ids[0], "b": single_id},
                )
            ).all()
        )
    assert keys[ids[0]] == keys[single_id] and "city_department_dispatch" in keys[ids[0]]
    # codes continue each tenant's lifetime counter, one after another in item order
    for tenant in (d0, township):
        seqs = [int(it["code"].rsplit("-", 1)[1]) for it in body["items"] if it["tenant"] == tenant]
        assert seqs == list(range(last_single[tenant] + 1, last_single[tenant] + 16))
    got = (await registry.http.get(f"/v1/projects/{ids[3]}", headers=registry.auth(tree.city))).json()
    assert (got["funding_type"], got["stage"], got["major"], got["total_investment"]) == (
        "government",
        "signed",
        True,
        "120000000.00",  # 1.2亿, exactly
    )
    assert got["location"] == {"lat": 41.8, "lon": 123.4, "address": "创新路1号"}
    assert got["planned_start"] == "2026-03-01" and got["industry"] == "新能源"
    history = (
        await registry.http.get(f"/v1/projects/{ids[3]}/history", headers=registry.auth(tree.city))
    ).json()
    assert [(h["from_stage"], h["to_stage"], h["reason"]) for h in history["items"]] == [
        (None, "signed", "registered")
    ]
    assert (
        await scalar(
            registry, "SELECT count(*) FROM project_stage_changes WHERE project_id::text = ANY(:ids)", ids=ids
        )
        == 30
    )
    assert (
        await scalar(
            registry,
            "SELECT count(*) FROM steward_audit WHERE entity = 'project' AND action = 'create' "
            "AND entity_id = ANY(:ids)",
            ids=ids,
        )
        == 30
    )
    assert (
        await scalar(
            registry,
            "SELECT count(*) FROM steward_outbox WHERE type = 'steward.project.registered.v1' "
            "AND payload->'data'->>'project_id' = ANY(:ids)",
            ids=ids,
        )
        == 30
    )
    # and on the bus: one project.registered per project, with the same body as the single path's
    events = await tap.collect(f"steward.events.{d0}.project.registered", expect=20)
    batch_events = [e for e in events if e["data"]["project_id"] in ids]
    assert len(batch_events) == 15 and len({e["id"] for e in batch_events}) == 15
    single_event = next(e for e in events if e["data"]["project_id"] == singles[(d0, "2500万")]["id"])
    batch_event = next(e for e in batch_events if e["data"]["total_investment"] == "25000000.00")
    assert set(batch_event) == set(single_event) and set(batch_event["data"]) == set(single_event["data"])
    assert batch_event["subject"] == batch_event["data"]["project_id"] and batch_event["tenant"] == d0
    assert batch_event["data"]["steward_required"] is True


async def test_one_bad_item_is_reported_by_index_and_nothing_is_written(
    registry: Registry, tree: Tree
) -> None:
    d0 = tree.districts[0]
    before = await project_count(registry, tree.city[:4])
    counters = await scalar(
        registry,
        "SELECT count(*) FROM project_code_counters WHERE tenant_code LIKE :p",
        p=tree.city[:4] + "%",
    )
    items = [{"tenant": d0, "name": f"好项目{i}", "total_investment": "1000万"} for i in range(10)]
    items[7]["total_investment"] = "12.345"
    r = await post_bulk(registry, tree.city, items)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "batch_invalid" and err["request_id"]
    assert [(d["index"], d["field"]) for d in err["details"]] == [(7, "total_investment")]
    assert "decimal" in err["details"][0]["message"] or "two" in err["details"][0]["message"]
    assert await project_count(registry, tree.city[:4]) == before
    assert (
        await scalar(
            registry,
            "SELECT count(*) FROM project_code_counters WHERE tenant_code LIKE :p",
            p=tree.city[:4] + "%",
        )
        == counters
    )


async def test_every_problem_of_every_item_is_listed(registry: Registry, tree: Tree) -> None:
    d0 = tree.districts[0]
    code_a, code_b = f"2025-210112-04-01-{tree.city}", f"2024-210112-04-01-{tree.city}"
    taken = await create_project(registry, d0, national_code=code_a)
    assert taken.status_code == 201, taken.text
    before = await project_count(registry, tree.city[:4])
    other_city = (await make_tree(registry)).districts[0]
    items: list[dict[str, Any]] = [
        {"tenant": d0, "name": "好", "total_investment": "1000万"},
        {"tenant": other_city, "name": "别的城市", "total_investment": "1000万"},  # not the caller's
        {"tenant": d0, "name": "", "total_investment": "abc", "surprise": 1},
        {"tenant": d0, "name": "停", "total_investment": "1000万", "stage": "terminated"},
        {
            "tenant": d0,
            "name": "占用",
            "total_investment": "1000万",
            "national_code": code_a.replace("-", ""),
        },
        {"tenant": d0, "name": "重复a", "total_investment": "1", "national_code": code_b},
        {"tenant": d0, "name": "重复b", "total_investment": "1", "national_code": code_b.replace("-", "")},
        {
            "tenant": d0,
            "name": "业主",
            "total_investment": "1",
            "owner_unit_id": "00000000-0000-0000-0000-000000000000",
        },
        {
            "tenant": d0,
            "name": "日期",
            "total_investment": "1",
            "planned_start": "2027-01-01",
            "planned_completion": "2026-01-01",
        },
        "not an object",
    ]
    r = await post_bulk(registry, tree.city, items)
    assert r.status_code == 422, r.text
    details = r.json()["error"]["details"]
    got = {(d["index"], d["field"], d["type"]) for d in details}
    assert (1, "tenant", "unknown_tenant") in got
    assert {(2, "name"), (2, "total_investment"), (2, "surprise")} <= {(i, f) for i, f, _ in got}
    assert (3, "stage", "invalid_stage") in got
    assert (4, "national_code", "national_code_taken") in got
    assert (5, "national_code", "national_code_repeated") in got and (
        6,
        "national_code",
        "national_code_repeated",
    ) in got
    assert (7, "owner_unit_id", "invalid_owner") in got
    assert 8 in {i for i, _, _ in got} and 9 in {i for i, _, _ in got}
    assert 0 not in {i for i, _, _ in got}
    assert [d["index"] for d in details] == sorted(d["index"] for d in details)
    assert await project_count(registry, tree.city[:4]) == before


async def test_another_tenants_item_is_refused_and_nothing_is_written(registry: Registry, tree: Tree) -> None:
    d0, d1 = tree.districts[0], tree.districts[1]
    before = await project_count(registry, tree.city[:4])
    items = [
        {"tenant": d0, "name": "本区", "total_investment": "1000万"},
        {"tenant": d1, "name": "邻区", "total_investment": "1000万"},
    ]
    r = await post_bulk(registry, d0, items)  # a district's dispatcher: the sibling is outside its scope
    assert r.status_code == 422, r.text
    assert [(d["index"], d["type"]) for d in r.json()["error"]["details"]] == [(1, "unknown_tenant")]
    assert await project_count(registry, tree.city[:4]) == before
    r = await post_bulk(registry, d0, items[:1], "leader")
    assert r.status_code == 403, r.text
    assert await project_count(registry, tree.city[:4]) == before


async def test_batch_size_limits(registry: Registry, tree: Tree) -> None:
    d0 = tree.districts[0]
    before = await project_count(registry, tree.city[:4])
    item = {"tenant": d0, "name": "x", "total_investment": "1"}
    r = await post_bulk(registry, tree.city, [item] * (bulk.MAX_BATCH + 1))
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "too_many_items"
    r = await post_bulk(registry, tree.city, [])
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_failed"
    r = await registry.http.post(
        "/v1/projects/bulk",
        json={"items": [item], "extra": 1},
        headers=registry.auth(tree.city, "dispatcher"),
    )
    assert r.status_code == 422
    assert await project_count(registry, tree.city[:4]) == before
    r = await post_bulk(registry, tree.city, [item] * bulk.MAX_BATCH)
    assert r.status_code == 201, r.text
    assert r.json()["count"] == bulk.MAX_BATCH
    assert await project_count(registry, tree.city[:4]) == before + bulk.MAX_BATCH


async def test_concurrent_batches_and_single_registrations_never_share_a_code(
    registry: Registry, tree: Tree
) -> None:
    d0, d1 = tree.districts[0], tree.districts[1]

    def batch(tag: str) -> list[dict[str, Any]]:
        return [
            {"tenant": (d0, d1)[i % 2], "name": f"{tag}{i}", "total_investment": "1000万"} for i in range(60)
        ]

    results = await asyncio.gather(
        post_bulk(registry, tree.city, batch("并发甲")),
        post_bulk(registry, tree.city, batch("并发乙")),
        *(create_project(registry, d0) for _ in range(5)),
    )
    assert all(r.status_code == 201 for r in results), [r.text for r in results if r.status_code != 201]
    codes = [it["code"] for r in results[:2] for it in r.json()["items"]] + [
        r.json()["code"] for r in results[2:]
    ]
    assert len(codes) == len(set(codes)) == 125
    for r in results[:2]:  # each batch's codes are consecutive per tenant
        for tenant in (d0, d1):
            seqs = [int(it["code"].rsplit("-", 1)[1]) for it in r.json()["items"] if it["tenant"] == tenant]
            assert seqs == list(range(seqs[0], seqs[0] + 30))
