"""Progress reports over REST: on time / late with delay, roster and role checks, exact money,
cumulative never decreasing without a correction record, leader sign-off, events via the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from steward.kit.calendar import DEFAULT_TZ
from steward.registry.reports.testing import Staffed, staffed_project
from steward.registry.testing import EventTap, Registry, Tree, make_tree
from steward.rules import preset_override

WEEKLY_SUNDAY = {
    "key": "weekly_test",
    "name_zh": "测试周报",
    "kind": "weekly",
    "weekday": 6,
    "due_time": "23:59",
    "holiday_shift": "none",
}


def anyang_rules() -> dict[str, Any]:
    doc = preset_override("anyang")
    doc["reports"]["schedules"].append(WEEKLY_SUNDAY)
    return doc


@pytest.fixture
async def anyang(registry: Registry) -> Tree:
    return await make_tree(registry, rules={"d0": anyang_rules()})


def this_week() -> str:
    iso = datetime.now(DEFAULT_TZ).date().isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


async def submit(reg: Registry, s: Staffed, tenant: str, role: str = "agent", **body: Any) -> Any:
    payload = {
        "project": s.project["code"],
        "schedule_key": "semi_monthly_progress",
        "period": "2026-10-H1",
        "investment_period": "1500000.50",
        "investment_cumulative": "3000万",
        "progress_text": "主体结构施工至三层",
    }
    payload.update(body)
    return await reg.http.post(
        "/v1/reports", json=payload, headers=reg.auth(tenant, "steward", sub=s.subjects[role])
    )


async def test_late_report_records_its_delay_and_on_time_is_on_time(
    registry: Registry, anyang: Tree, tap: EventTap
) -> None:
    d = anyang.districts[0]
    s = await staffed_project(registry, d, roles=["commander", "agent"])
    r = await submit(registry, s, d, obstacle_ids=["M-2026-0001", "M-2026-0001", "M-2026-0002"])
    assert r.status_code == 201, r.text
    late = r.json()
    due = datetime(2026, 10, 12, 17, 0, tzinfo=DEFAULT_TZ)
    submitted = datetime.fromisoformat(late["submitted_at"])
    assert late["status"] == "late" and datetime.fromisoformat(late["due_at"]) == due
    assert late["delay_seconds"] == int((submitted - due).total_seconds()) > 0
    assert late["delay"].endswith("m") and "d" in late["delay"]
    assert late["investment_period"] == "1500000.50" and late["investment_cumulative"] == "30000000.00"
    assert late["obstacle_ids"] == ["M-2026-0001", "M-2026-0002"]
    assert late["signoff"] == {
        "required": True,
        "role": "commander",
        "signed_by": None,
        "signed_at": None,
        "paper": False,
    }

    on_time = await submit(
        registry, s, d, schedule_key="weekly_test", period=this_week(), investment_cumulative="3100万"
    )
    assert on_time.status_code == 201, on_time.text
    assert (on_time.json()["status"], on_time.json()["delay_seconds"], on_time.json()["delay"]) == (
        "on_time",
        0,
        "",
    )

    events = await tap.collect(f"steward.events.{d}.report.submitted", expect=2)
    assert [(e["data"]["period"], e["data"]["late"]) for e in events] == [
        ("2026-10-H1", True),
        (this_week(), False),
    ]
    assert events[0]["data"]["delay_seconds"] == late["delay_seconds"]
    assert events[0]["data"]["investment_cumulative"] == "30000000.00"


async def test_bad_submissions_are_refused_and_write_nothing(registry: Registry, anyang: Tree) -> None:
    d = anyang.districts[0]
    s = await staffed_project(registry, d, roles=["agent"])
    cases = [
        ({"schedule_key": "nope"}, 422, "unknown_schedule"),
        ({"period": "2026-10"}, 422, "period_mismatch"),
        ({"period": "2099-01-H1"}, 422, "period_not_started"),
        ({"investment_period": 1.5}, 422, "validation_failed"),
        ({"investment_period": "-5"}, 422, "validation_failed"),
        ({"obstacle_ids": [""]}, 422, "validation_failed"),
    ]
    for body, status, code in cases:
        r = await submit(registry, s, d, **body)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), (body, r.text)
    listed = await registry.http.get(
        "/v1/reports", params={"project": s.project["id"]}, headers=registry.auth(d, "tenant_admin")
    )
    assert listed.json()["items"] == []
    assert (await submit(registry, s, d)).status_code == 201
    dup = await submit(registry, s, d)
    assert (dup.status_code, dup.json()["error"]["code"]) == (409, "already_submitted")


async def test_who_may_report(registry: Registry, anyang: Tree) -> None:
    d, sibling = anyang.districts[0], anyang.districts[1]
    s = await staffed_project(registry, d, roles=["agent"])
    body = {
        "project": s.project["id"],
        "schedule_key": "semi_monthly_progress",
        "period": "2026-10-H1",
        "investment_period": "0",
        "investment_cumulative": "0",
    }
    # a dispatcher of the tenant who is not on the roster
    r = await registry.http.post(
        "/v1/reports", json=body, headers=registry.auth(d, "dispatcher", sub="stranger")
    )
    assert (r.status_code, r.json()["error"]["code"]) == (403, "not_a_reporter")
    # a sibling district does not even see the project
    r = await registry.http.post("/v1/reports", json=body, headers=registry.auth(sibling, "tenant_admin"))
    assert r.status_code == 404
    # an enterprise contact of another enterprise neither
    other = await staffed_project(registry, d, roles=[], name="别家项目")
    r = await registry.http.post(
        "/v1/reports", json=body, headers=registry.auth(d, "enterprise_contact", unit=other.owner_unit)
    )
    assert r.status_code == 404
    # the project's own enterprise contact may report
    r = await registry.http.post(
        "/v1/reports", json=body, headers=registry.auth(d, "enterprise_contact", sub="ec", unit=s.owner_unit)
    )
    assert r.status_code == 201, r.text
    # and sees its reports, the other enterprise sees none
    mine = await registry.http.get(
        "/v1/reports", headers=registry.auth(d, "enterprise_contact", unit=s.owner_unit)
    )
    theirs = await registry.http.get(
        "/v1/reports", headers=registry.auth(d, "enterprise_contact", unit=other.owner_unit)
    )
    assert [x["project_id"] for x in mine.json()["items"]] == [s.project["id"]]
    assert theirs.json()["items"] == []
    r = await registry.http.get(
        f"/v1/reports/{mine.json()['items'][0]['id']}", headers=registry.auth(sibling)
    )
    assert r.status_code == 404


async def test_cumulative_never_decreases_without_a_correction(registry: Registry, anyang: Tree) -> None:
    d = anyang.districts[0]
    s = await staffed_project(registry, d, roles=["agent"])
    first = await submit(registry, s, d, period="2026-10-H1", investment_cumulative="3000万")
    assert first.status_code == 201
    lower = await submit(registry, s, d, period="2026-10-H2", investment_cumulative="2999万")
    assert (lower.status_code, lower.json()["error"]["code"]) == (422, "cumulative_decreased")
    # an earlier period may not report more than a later one either
    ok = await submit(registry, s, d, period="2026-11-H1", investment_cumulative="3500万")
    assert ok.status_code == 201
    between = await submit(registry, s, d, period="2026-10-H2", investment_cumulative="3600万")
    assert between.status_code == 422
    fixed = await submit(
        registry, s, d, period="2026-10-H2", investment_cumulative="2900万", correction_reason="统计口径调整"
    )
    assert fixed.status_code == 201, fixed.text
    corrections = await registry.http.get(
        f"/v1/reports/{fixed.json()['id']}/corrections", headers=registry.auth(d, "tenant_admin")
    )
    assert [c["reason"] for c in corrections.json()] == ["统计口径调整"]
    # a correction of a submitted report is recorded with who, why and the old/new figures
    rid = first.json()["id"]
    no_reason = await registry.http.post(
        f"/v1/reports/{rid}/corrections",
        json={"investment_cumulative": "2800万"},
        headers=registry.auth(d, "steward", sub=s.subjects["agent"]),
    )
    assert no_reason.status_code == 422
    corrected = await registry.http.post(
        f"/v1/reports/{rid}/corrections",
        json={"investment_cumulative": "2800万", "reason": "重复计列一笔设备款"},
        headers=registry.auth(d, "steward", sub=s.subjects["agent"]),
    )
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["investment_cumulative"] == "28000000.00" and corrected.json()["row_version"] == 2
    history = (
        await registry.http.get(f"/v1/reports/{rid}/corrections", headers=registry.auth(d, "tenant_admin"))
    ).json()
    assert history[0]["changes"]["investment_cumulative"] == ["30000000.00", "28000000.00"]
    assert history[0]["actor"] == s.subjects["agent"]


async def test_paper_signoff_by_the_commander(registry: Registry, anyang: Tree, tap: EventTap) -> None:
    d = anyang.districts[0]
    s = await staffed_project(registry, d, roles=["commander", "agent"])
    rid = (await submit(registry, s, d)).json()["id"]
    url = f"/v1/reports/{rid}/signoff"
    r = await registry.http.post(
        url, json={"paper": True}, headers=registry.auth(d, "steward", sub=s.subjects["agent"])
    )
    assert (r.status_code, r.json()["error"]["code"]) == (403, "not_the_signer")
    r = await registry.http.post(
        url, json={"paper": True}, headers=registry.auth(d, "leader", sub=s.subjects["commander"])
    )
    assert r.status_code == 200, r.text
    assert (
        r.json()["signoff"]["signed_by"] == s.subjects["commander"] and r.json()["signoff"]["paper"] is True
    )
    again = await registry.http.post(
        url, json={"paper": True}, headers=registry.auth(d, "leader", sub=s.subjects["commander"])
    )
    assert again.status_code == 409
    events = await tap.collect(f"steward.events.{d}.report.signed_off", expect=1)
    assert events[0]["data"]["report_id"] == rid


async def test_schedules_endpoint_reports_due_dates_and_fallback(registry: Registry, anyang: Tree) -> None:
    d = anyang.districts[0]
    h = registry.auth(d, "tenant_admin")
    r = await registry.http.get(
        "/v1/reports/schedules",
        params={"tenant": d, "from": "2026-10-01", "to": "2026-10-31", "schedule": "semi_monthly_progress"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    periods = body["schedules"][0]["periods"]
    assert [(p["period"], p["due_date"], p["summary_date"]) for p in periods] == [
        ("2026-10-H1", "2026-10-12", "2026-10-13"),
        ("2026-10-H2", "2026-10-23", "2026-10-26"),
    ]
    assert body["calendar_fallback"] is False
    r = await registry.http.get(
        "/v1/reports/schedules", params={"tenant": d, "from": "2027-01-01", "to": "2027-01-31"}, headers=h
    )
    assert r.json()["calendar_fallback"] is True and r.json()["fallback_years"] == [2027]
    one = await registry.http.get(
        "/v1/reports/schedules/semi_monthly_progress/periods/2027-01-H2", params={"tenant": d}, headers=h
    )
    assert one.json()["calendar"] == {"2027": "fallback"} and one.json()["calendar_fallback"] is True
    bad = await registry.http.get(
        "/v1/reports/schedules", params={"tenant": d, "from": "2026-10-01", "to": "2026-01-01"}, headers=h
    )
    assert bad.status_code == 422
    sibling = await registry.http.get(
        "/v1/reports/schedules", params={"tenant": d}, headers=registry.auth(anyang.districts[1])
    )
    assert sibling.status_code == 404


async def test_which_projects_report_follows_rules(registry: Registry) -> None:
    # city tier only for the weekly dispatch; the monthly report applies to every project
    tree = await make_tree(registry)
    d = tree.districts[0]
    long_ago = datetime(2026, 1, 1, tzinfo=DEFAULT_TZ)
    big = await staffed_project(registry, d, roles=[], name="亿元项目", investment="2亿", backdate=long_ago)
    small = await staffed_project(registry, d, roles=[], name="小项目", investment="800万", backdate=long_ago)
    r = await registry.http.get(
        "/v1/reports/status", params={"tenant": d, "period": "2026-W40"}, headers=registry.auth(d)
    )
    rows = r.json()["items"]
    assert [(x["project_id"], x["schedule_key"], x["status"]) for x in rows] == [
        (big.project["id"], "weekly_dispatch", "missing")
    ]
    r = await registry.http.get(
        "/v1/reports/status", params={"tenant": d, "period": "2026-10"}, headers=registry.auth(d)
    )
    assert {x["project_id"] for x in r.json()["items"]} == {big.project["id"], small.project["id"]}
    assert small.project["id"] != big.project["id"]
