"""Service log (服务台账): submission, approval by the 营商局 or return with a reason, and the visit
rules of each tenant (Fuxin/Huiji: leader monthly; Anyang: HQ on site twice a week)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from steward.kit.calendar import DEFAULT_TZ
from steward.registry.reports.testing import Staffed, staffed_project
from steward.registry.servicelog import compliance
from steward.registry.testing import EventTap, Registry, make_tree
from steward.rules import preset_override

LONG_AGO = datetime(2026, 1, 5, tzinfo=DEFAULT_TZ)


async def log(reg: Registry, tenant: str, s: Staffed, when: str, *, role: str, **extra: Any) -> Any:
    body: dict[str, Any] = {
        "project": s.project["id"],
        "visited_at": when,
        "place": "项目现场",
        "participants": [{"name": "张三", "role_key": role}],
        "problems_solved": "协调施工用电接入",
    }
    body.update(extra)
    return await reg.http.post(
        "/v1/service-log", json=body, headers=reg.auth(tenant, "steward", sub="steward-1")
    )


async def test_approval_by_the_business_environment_bureau(registry: Registry, tap: EventTap) -> None:
    tree = await make_tree(registry, rules={"d0": preset_override("fuxin_steward")})
    d = tree.districts[0]
    s = await staffed_project(registry, d, roles=["leader"], backdate=LONG_AGO)
    admin = registry.auth(d)
    bureau = (
        await registry.http.post(
            "/v1/units", json={"tenant": d, "kind": "department", "name": "营商环境建设局"}, headers=admin
        )
    ).json()
    other = (
        await registry.http.post(
            "/v1/units", json={"tenant": d, "kind": "department", "name": "自然资源局"}, headers=admin
        )
    ).json()
    missing = await log(
        registry, d, s, "2026-10-10T10:00:00+08:00", role="leader", place="", problems_solved=""
    )
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "ledger_fields_missing"
    assert {x["loc"][0] for x in missing.json()["error"]["details"]} == {"place", "problems_solved"}
    enterprise = await registry.http.post(
        "/v1/service-log",
        json={"project": s.project["id"], "visited_at": "2026-10-10T10:00:00+08:00", "place": "x"},
        headers=registry.auth(d, "enterprise_contact", unit=s.owner_unit),
    )
    assert enterprise.status_code == 403
    entry = await log(registry, d, s, "2026-10-10T10:00:00+08:00", role="leader")
    assert entry.status_code == 201, entry.text
    assert (entry.json()["status"], entry.json()["counts"]) == ("submitted", False)
    eid = entry.json()["id"]
    # who may approve: a tenant admin of the 营商局 (营商环境建设局), not of another unit, not the author
    for headers, status in (
        (registry.auth(d, "tenant_admin", sub="a1"), 403),
        (registry.auth(d, "tenant_admin", sub="a2", unit=other["id"]), 403),
        (registry.auth(d, "steward", sub="a3", unit=bureau["id"]), 403),
        (registry.auth(d, "tenant_admin", sub="steward-1", unit=bureau["id"]), 403),
        (registry.auth(tree.districts[1], "tenant_admin", sub="a4", unit=bureau["id"]), 404),
    ):
        r = await registry.http.post(f"/v1/service-log/{eid}/approve", headers=headers)
        assert r.status_code == status, (headers, r.text)
    approver = registry.auth(d, "tenant_admin", sub="yingshang", unit=bureau["id"])
    back = await registry.http.post(
        f"/v1/service-log/{eid}/return", json={"reason": "参加人员不全"}, headers=approver
    )
    assert back.status_code == 200 and back.json()["status"] == "returned"
    assert back.json()["return_reason"] == "参加人员不全"
    twice = await registry.http.post(f"/v1/service-log/{eid}/approve", headers=approver)
    assert twice.status_code == 409
    fixed = await registry.http.patch(
        f"/v1/service-log/{eid}",
        json={"participants": [{"name": "张三", "role_key": "leader"}, {"name": "李四"}]},
        headers=registry.auth(d, "steward", sub="steward-1"),
    )
    assert fixed.status_code == 200 and fixed.json()["status"] == "submitted"
    ok = await registry.http.post(f"/v1/service-log/{eid}/approve", headers=approver)
    assert ok.status_code == 200 and ok.json()["status"] == "approved" and ok.json()["counts"] is True
    events = await tap.collect(f"steward.events.{d}.visit.>", expect=3)
    assert [e["type"] for e in events] == [
        "steward.visit.logged.v1",
        "steward.visit.returned.v1",
        "steward.visit.approved.v1",
    ]
    # compliance: October has an approved leader visit; September has none
    h = registry.auth(d, "supervisor")
    oct_ = (
        await registry.http.get("/v1/service-log/compliance", params={"period": "2026-10"}, headers=h)
    ).json()
    sep = (
        await registry.http.get("/v1/service-log/compliance", params={"period": "2026-09"}, headers=h)
    ).json()
    assert [(x["role"], x["counted"], x["met"]) for x in oct_["items"]] == [("leader", 1, True)]
    assert [(x["role"], x["counted"], x["met"]) for x in sep["items"]] == [("leader", 0, False)]
    # the end-of-period check publishes the miss once
    for _ in range(2):
        async with registry.db.transaction() as session:
            await compliance.run_check(session, tenant=d, period="2026-09")
    missed = await tap.collect(f"steward.events.{d}.visit.compliance_missed", expect=2, wait=2)
    assert [(e["data"]["period"], e["data"]["role"], e["data"]["counted"]) for e in missed] == [
        ("2026-09", "leader", 0)
    ]


async def test_anyang_hq_on_site_twice_a_week(registry: Registry, tap: EventTap) -> None:
    tree = await make_tree(registry, rules={"d2": preset_override("anyang")})
    d = tree.districts[2]
    s = await staffed_project(registry, d, roles=["commander"], backdate=LONG_AGO)
    commander = s.people["commander"]["id"]
    # week 2026-W45 (11-02..11-08): HQ twice on site, commander once on site and once by phone
    assert (await log(registry, d, s, "2026-11-02T09:00:00+08:00", role="hq")).status_code == 201
    r = await log(
        registry,
        d,
        s,
        "2026-11-05T15:00:00+08:00",
        role="hq",
        participants=[{"name": "指挥长", "person_id": commander}, {"name": "成员", "role_key": "hq"}],
    )
    assert r.status_code == 201
    off_site = await log(
        registry,
        d,
        s,
        "2026-11-06T15:00:00+08:00",
        role="commander",
        on_site=False,
        kind="phone",
        participants=[{"name": "指挥长", "person_id": commander}],
    )
    assert off_site.status_code == 201 and off_site.json()["counts"] is True  # no approval needed here
    rows = (
        await registry.http.get(
            "/v1/service-log/compliance", params={"tenant": d, "period": "2026-W45"}, headers=registry.auth(d)
        )
    ).json()["items"]
    assert sorted((x["role"], x["counted"], x["met"]) for x in rows) == [
        ("commander", 1, False),
        ("hq", 2, True),
    ]
    async with registry.db.transaction() as session:
        published = await compliance.run_check(session, tenant=d, period="2026-W45")
    assert [(x.role, x.counted) for x in published] == [("commander", 1)]
    events = await tap.collect(f"steward.events.{d}.visit.compliance_missed", expect=1)
    assert events[0]["data"]["required"] == 2 and events[0]["data"]["per"] == "week"
    # bad period keys are a 422, a sibling district sees nothing
    bad = await registry.http.get(
        "/v1/service-log/compliance", params={"tenant": d, "period": "2026-W99"}, headers=registry.auth(d)
    )
    assert bad.status_code == 422
    listed = await registry.http.get(
        "/v1/service-log", params={"tenant": tree.city}, headers=registry.auth(tree.districts[0])
    )
    assert listed.status_code == 404
    mine = await registry.http.get(
        "/v1/service-log", params={"project": s.project["id"]}, headers=registry.auth(d)
    )
    assert len(mine.json()["items"]) == 3


async def test_date_time_filters_take_iso_8601_only(registry: Registry) -> None:
    """``until=0.5`` is not a date-time (the lax parser read it as a Unix time): 422, and so for the
    rules' ``at``; ISO 8601 text is accepted."""
    tree = await make_tree(registry)
    headers = registry.auth(tree.city, "dispatcher")
    for bad in ("0.5", "1700000000", "yesterday"):
        r = await registry.http.get("/v1/service-log", params={"until": bad}, headers=headers)
        assert r.status_code == 422, (bad, r.text)
        r = await registry.http.get(f"/v1/rules/{tree.city}/effective", params={"at": bad}, headers=headers)
        assert r.status_code == 422, (bad, r.text)
    for good in ("2026-11-30T09:00:00+08:00", "2026-11-30T01:00:00Z", "2026-11-30"):
        r = await registry.http.get("/v1/service-log", params={"since": good, "until": good}, headers=headers)
        assert r.status_code == 200, (good, r.text)
