"""Series from the rules, meetings generated ahead by the timer with real 2026 holidays (中秋 9/26,
国庆 10/3 are Saturdays; 国庆 also takes Tuesday 10/6, so that week's deadline moves to Wednesday
9/30), ad-hoc meetings, reschedule and cancel with a reason."""

from __future__ import annotations

from datetime import date

from steward.kit.clock import Clock
from steward.meetings.testing import Meetings, auth, local
from steward.registry.testing import Registry, Tree, make_tree

MOVE = {
    "meetings": {"series": [{"key": "weekly_joint", "name_zh": "联席会议周例会", "skip_on_holiday": False}]}
}


async def _sync(meetings: Meetings, tenant: str) -> dict:
    r = await meetings.http.post(
        "/v1/series/sync", json={"tenant": tenant}, headers=auth(tenant, "dispatcher")
    )
    assert r.status_code == 200, r.text
    return r.json()["items"][0]


async def _meetings(meetings: Meetings, tenant: str) -> dict[str, dict]:
    r = await meetings.http.get(
        "/v1/meetings",
        params={"tenant": tenant, "upcoming_first": "true"},
        headers=auth(tenant, "supervisor"),
    )
    assert r.status_code == 200, r.text
    return {m["regular_date"]: m for m in r.json()["items"] if m["kind"] == "regular"}


async def test_generated_ahead_with_holidays_skipped_or_moved(
    meetings: Meetings, registry: Registry, clock: Clock
) -> None:
    tree = await make_tree(registry, rules={"d1": MOVE})
    skip, move = tree.districts[0], tree.districts[1]
    clock.set(local(2026, 9, 21, 10))
    series = await _sync(meetings, skip)
    assert series["spec"]["weekday"] == 5 and series["spec"]["skip_on_holiday"] is True
    await _sync(meetings, move)
    assert await meetings.sweep() > 0
    got = await _meetings(meetings, skip)
    assert sorted(got) == ["2026-09-26", "2026-10-03", "2026-10-10", "2026-10-17"]
    assert got["2026-09-26"]["status"] == "skipped" and "中秋" in got["2026-09-26"]["holiday_note"]
    assert got["2026-10-03"]["status"] == "skipped" and "国庆" in got["2026-10-03"]["holiday_note"]
    oct10 = got["2026-10-10"]  # a make-up working Saturday (调休上班): held as usual
    assert oct10["status"] == "scheduled" and oct10["holiday_note"] is None
    assert oct10["starts_at"].startswith("2026-10-10T01:00:00")  # 09:00 Asia/Shanghai
    assert oct10["agenda_deadline_at"].startswith("2026-09-30T09:00:00")  # Tue 10/6 is 国庆: Wed 9/30 17:00
    assert oct10["compile_due"] == "2026-10-09"
    assert got["2026-10-17"]["agenda_deadline_at"].startswith("2026-10-13T09:00:00")  # plain Tuesday 17:00
    assert (oct10["seq"], got["2026-10-17"]["seq"]) == (1, 2)

    moved = await _meetings(meetings, move)
    assert moved["2026-09-26"]["status"] == "scheduled"
    assert moved["2026-09-26"]["starts_at"].startswith("2026-09-28T01:00")  # next working day, Monday
    assert "顺延至 2026-09-28" in moved["2026-09-26"]["holiday_note"]
    assert moved["2026-10-03"]["starts_at"].startswith("2026-10-08T01:00")  # after the Golden Week

    # sweeping again (a second replica, the next day) creates nothing twice
    clock.set(local(2026, 9, 27, 10))
    await meetings.http.post(f"/v1/series/{series['id']}/generate", headers=auth(skip, "dispatcher"))
    again = await _meetings(meetings, skip)
    assert len(again) == 5 and again["2026-10-24"]["seq"] == 3  # one more week entered the horizon


async def test_ad_hoc_reschedule_and_cancel(meetings: Meetings, tree: Tree, clock: Clock) -> None:
    d = tree.districts[0]
    clock.set(local(2026, 11, 2, 9))
    await _sync(meetings, d)
    await meetings.sweep()
    staff = auth(d, "dispatcher", sub="zhongdianban")
    r = await meetings.http.post(
        "/v1/meetings",
        json={
            "tenant": d,
            "title": "供电接入临时协调会议",
            "starts_at": "2026-11-03T15:00:00+08:00",
            "reason": "10千伏线路接入影响投产",
            "series_key": "weekly_joint",
        },
        headers=staff,
    )
    assert r.status_code == 201, r.text
    adhoc = r.json()
    assert adhoc["kind"] == "ad_hoc" and adhoc["reason"] == "10千伏线路接入影响投产"
    # no reason → 422, nothing written
    r = await meetings.http.post(
        "/v1/meetings",
        json={"tenant": d, "title": "x", "starts_at": "2026-11-03T15:00:00+08:00", "reason": ""},
        headers=staff,
    )
    assert r.status_code == 422
    r = await meetings.http.post(
        f"/v1/meetings/{adhoc['id']}/reschedule",
        json={"starts_at": "2026-11-04T15:00:00+08:00", "reason": "主持人另有公务"},
        headers=staff,
    )
    assert r.status_code == 200 and r.json()["starts_at"].startswith("2026-11-04T07:00")
    # cancelling a regular meeting carries its topics to the next one
    regular = await _meetings(meetings, d)
    first, second = regular["2026-11-07"], regular["2026-11-14"]
    topic = await meetings.http.post(
        "/v1/topics",
        json={
            "meeting_id": first["id"],
            "title": "用地报批",
            "problem": "用地预审未批",
            "request": "协调自然资源局",
            "unit_name": "项目指挥部",
        },
        headers=auth(d, "specialist", sub="hq1"),
    )
    assert topic.status_code == 201, topic.text
    r = await meetings.http.post(
        f"/v1/meetings/{first['id']}/cancel", json={"reason": "主任出差"}, headers=staff
    )
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    moved = (await meetings.http.get(f"/v1/topics/{topic.json()['id']}", headers=staff)).json()
    assert moved["meeting_id"] == second["id"] and moved["deferrals"] == 1
    r = await meetings.http.post(
        f"/v1/meetings/{first['id']}/cancel", json={"reason": "again"}, headers=staff
    )
    assert r.status_code == 409
    assert date.fromisoformat(second["regular_date"]).weekday() == 5
