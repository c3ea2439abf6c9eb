"""Agenda intake and compilation: the Tuesday-17:00 deadline (moved to Wednesday 9/30 because
Tuesday 10/6/2026 is 国庆), late topics to the next meeting unless urgent, sign-offs by role (never
compiled without both), the fixed order, the backlog carried forward; the supervision report lists
last meeting's decisions with the states the issues service reports."""

from __future__ import annotations

from typing import Any

from steward.issues.testing import Issues, wait_for
from steward.kit.clock import Clock
from steward.meetings.testing import Meetings, auth, local
from steward.registry.testing import Tree

UNIT = "unit-hq-1"
ORG = {"sub": "zhongdianban"}


async def _setup(meetings: Meetings, d: str) -> dict[str, dict[str, Any]]:
    r = await meetings.http.post("/v1/series/sync", json={"tenant": d}, headers=auth(d, "dispatcher"))
    assert r.status_code == 200, r.text
    await meetings.sweep()
    r = await meetings.http.get("/v1/meetings", params={"tenant": d}, headers=auth(d, "dispatcher"))
    return {m["regular_date"]: m for m in r.json()["items"]}


async def _topic(meetings: Meetings, d: str, meeting_id: str, title: str, **extra: Any) -> dict[str, Any]:
    body = {
        "meeting_id": meeting_id,
        "title": title,
        "problem": f"{title}：存在问题",
        "request": "请求协调",
        "unit_id": UNIT,
        "unit_name": "产业园项目指挥部",
        "departments": ["自然资源局", "住建局"],
        **extra,
    }
    r = await meetings.http.post(
        "/v1/topics", json=body, headers=auth(d, "specialist", sub="hq-clerk", unit=UNIT)
    )
    assert r.status_code == 201, r.text
    return r.json()


async def _sign(meetings: Meetings, d: str, topic: str, role: str, sub: str, unit: str | None) -> Any:
    return await meetings.http.post(
        f"/v1/topics/{topic}/signoffs",
        json={"role": role, "name": sub},
        headers=auth(d, "leader", sub=sub, unit=unit),
    )


async def _sign_both(meetings: Meetings, d: str, topic: str) -> None:
    assert (await _sign(meetings, d, topic, "unit_head", "指挥部王主任", UNIT)).status_code == 200
    r = await _sign(meetings, d, topic, "leader_in_charge", "李副县长", "gov")
    assert r.status_code == 200 and r.json()["missing_signoffs"] == [], r.text


async def test_deadline_signoffs_and_compilation(meetings: Meetings, tree: Tree, clock: Clock) -> None:
    d = tree.districts[0]
    clock.set(local(2026, 9, 21, 10))
    regular = await _setup(meetings, d)
    oct10, oct17 = regular["2026-10-10"]["id"], regular["2026-10-17"]["id"]

    clock.set(local(2026, 9, 30, 16, 59))  # one minute before the (moved) deadline
    a = await _topic(meetings, d, oct10, "A 供电线路接入")
    b = await _topic(meetings, d, oct10, "B 规划条件")
    assert a["meeting_id"] == oct10 and not a["late"]
    assert a["missing_signoffs"] == ["unit_head", "leader_in_charge"]

    clock.set(local(2026, 9, 30, 17, 1))  # after it: the topic lands on the following meeting
    c = await _topic(meetings, d, oct10, "C 环评批复")
    assert c["meeting_id"] == oct17 and c["late"] and c["requested_meeting_id"] == oct10
    urgent = await _topic(meetings, d, oct10, "D 征地拆迁（紧急）")
    assert urgent["meeting_id"] == oct17
    r = await meetings.http.post(
        f"/v1/topics/{urgent['id']}/urgent",
        json={"reason": "影响国庆后复工"},
        headers=auth(d, "dispatcher", **ORG),
    )
    assert r.status_code == 200 and r.json()["meeting_id"] == oct10 and r.json()["urgent"]
    r = await meetings.http.post(
        f"/v1/topics/{c['id']}/urgent", json={"reason": "x"}, headers=auth(d, "specialist", sub="hq-clerk")
    )
    assert r.status_code == 403  # only the organiser

    # sign-offs: by role, each by the right person, never both by one
    r = await meetings.http.post(
        f"/v1/topics/{b['id']}/signoffs",
        json={"role": "unit_head", "name": "x"},
        headers=auth(d, "specialist", sub="not-a-leader", unit=UNIT),
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "signoff_role_required"
    r = await _sign(meetings, d, b["id"], "leader_in_charge", "同单位领导", UNIT)
    assert r.status_code == 403  # the leader in charge is not of the submitting unit
    assert (await _sign(meetings, d, b["id"], "unit_head", "指挥部王主任", UNIT)).status_code == 200
    r = await _sign(meetings, d, b["id"], "unit_head", "指挥部王主任", UNIT)
    assert r.status_code == 409
    await _sign_both(meetings, d, urgent["id"])

    clock.set(local(2026, 10, 9, 10))  # Friday: 重点办汇总
    r = await meetings.http.post(f"/v1/meetings/{oct10}/agenda/compile", headers=auth(d, "dispatcher", **ORG))
    assert r.status_code == 200, r.text
    doc = r.json()["document"]
    assert [p["part"] for p in doc["parts"]] == ["supervision_report", "project_problems", "chair_summary"]
    assert doc["parts"][0]["heading"].startswith("一、督查室汇报")
    titles = [i["title"] for i in doc["parts"][1]["items"]]
    # D (urgent, both sign-offs) is on it; A (none) and B (one missing) are not, C is late
    assert titles == ["D 征地拆迁（紧急）"]
    item = next(i for i in doc["parts"][1]["items"] if i["title"] == "D 征地拆迁（紧急）")
    assert [s["unit"] for s in item["slots"]["statements"]] == ["自然资源局", "住建局"]
    assert {s["role"] for s in item["signoffs"]} == {"unit_head", "leader_in_charge"}
    # B (one sign-off missing) is carried forward to the next meeting, never lost
    backlog = (
        await meetings.http.get("/v1/topics", params={"meeting_id": oct17}, headers=auth(d, "dispatcher"))
    ).json()
    carried = {t["title"]: t for t in backlog["items"]}
    assert carried["B 规划条件"]["deferrals"] == 1 and carried["B 规划条件"]["status"] == "submitted"
    assert set(carried) == {"A 供电线路接入", "B 规划条件", "C 环评批复"}


async def test_supervision_report_from_issues(
    meetings: Meetings, issues: Issues, tree: Tree, clock: Clock
) -> None:
    d = tree.districts[1]
    clock.set(local(2026, 10, 12, 10))
    regular = await _setup(meetings, d)
    first, second = regular["2026-10-17"]["id"], regular["2026-10-24"]["id"]
    org = auth(d, "dispatcher", **ORG)
    clock.set(local(2026, 10, 17, 11))
    issues.clock.set(local(2026, 10, 17, 11))
    decisions = []
    for text, due in (
        ("三日内完成供电方案批复", "2026-10-20"),
        ("出具规划条件", None),
        ("完成地上附着物清理", "2026-10-30"),
    ):
        body = {"text": text, "responsible_unit_name": "自然资源局", "responsible_person": "张科长"}
        if due:
            body["due_date"] = due
        r = await meetings.http.post(f"/v1/meetings/{first}/decisions", json=body, headers=org)
        assert r.status_code == 201, r.text
        decisions.append(r.json())
    assert (
        decisions[1]["deadline_source"] == "default" and decisions[1]["due_date"] == "2026-10-30"
    )  # 10 working days
    assert (await meetings.http.post(f"/v1/meetings/{first}/hold", json={}, headers=org)).status_code == 200
    assert await meetings.sweep() >= 3  # files the three decisions in the issues service
    got = (await meetings.http.get(f"/v1/meetings/{first}/decisions", headers=org)).json()["items"]
    assert all(x["matter_number"] for x in got)
    # the unit resolves the third; the first passes its deadline
    staff = {"Authorization": org["Authorization"]}
    key = got[2]["matter_id"]
    r = await issues.http.post(
        f"/v1/matters/{key}/accept", json={"responsible_unit_name": "自然资源局"}, headers=staff
    )
    assert r.status_code == 200, r.text
    r = await issues.http.post(f"/v1/matters/{key}/resolve", json={"text": "已清理完毕"}, headers=staff)
    assert r.status_code == 200, r.text
    issues.clock.set(local(2026, 10, 23, 10))
    clock.set(local(2026, 10, 23, 10))
    r = await meetings.http.post(f"/v1/meetings/{second}/agenda/compile", headers=org)
    assert r.status_code == 200, r.text
    report = r.json()["document"]["parts"][0]
    assert report["previous_meeting"]["id"] == first
    states = {i["number"]: i["state"] for i in report["items"]}
    assert states == {1: "overdue", 2: "in_progress", 3: "done"}
    assert report["summary"] | {} == {
        "done": 1,
        "in_progress": 1,
        "overdue": 1,
        "not_filed": 0,
        "unknown": 0,
        "total": 3,
    }
    late = report["items"][0]
    assert (
        late["responsible_unit"] == "自然资源局"
        and late["working_days_overdue"] == 3
        and late["matter_number"]
    )


async def test_escalated_matter_arrives_as_a_proposed_topic(
    meetings: Meetings, issues: Issues, tree: Tree, clock: Clock
) -> None:
    d = tree.districts[2]
    clock.set(local(2026, 11, 2, 9))
    issues.clock.set(local(2026, 11, 2, 9))
    regular = await _setup(meetings, d)
    staff = auth(d, "dispatcher")
    r = await issues.http.post(
        "/v1/matters",
        json={
            "kind": "decision",
            "tenant": d,
            "title": "协调施工用电",
            "responsible_unit_name": "供电公司",
            "decision": {"meeting_id": "m-1"},
        },
        headers=staff,
    )
    assert r.status_code == 201, r.text
    matter = r.json()
    r = await issues.http.post(
        f"/v1/matters/{matter['id']}/escalate",
        json={"to": "meeting", "reason": "多部门协调未果"},
        headers=staff,
    )
    assert r.status_code == 200, r.text

    async def proposed() -> list[dict[str, Any]]:
        r = await meetings.http.get("/v1/topics", params={"tenant": d}, headers=staff)
        return [t for t in r.json()["items"] if t["source"] == "escalated"]

    topics = await wait_for(proposed, timeout=20)
    assert (
        topics[0]["matter_ids"] == [matter["id"]] and topics[0]["meeting_id"] == regular["2026-11-07"]["id"]
    )
    assert topics[0]["problem"] == "多部门协调未果" and topics[0]["missing_signoffs"] == [
        "unit_head",
        "leader_in_charge",
    ]
    # a topic may link matters the submitter can see; an unknown one is refused
    r = await meetings.http.post(
        "/v1/topics",
        json={
            "meeting_id": regular["2026-11-07"]["id"],
            "title": "x",
            "problem": "p",
            "request": "r",
            "unit_name": "u",
            "matter_ids": [matter["number"]],
        },
        headers=auth(d, "specialist"),
    )
    assert r.status_code == 201 and r.json()["matter_ids"] == [matter["id"]]
    r = await meetings.http.post(
        "/v1/topics",
        json={
            "meeting_id": regular["2026-11-07"]["id"],
            "title": "x",
            "problem": "p",
            "request": "r",
            "unit_name": "u",
            "matter_ids": ["00000000-0000-0000-0000-000000000000"],
        },
        headers=auth(d, "specialist"),
    )
    assert r.status_code == 404
