"""Decisions become exactly one ``decision`` matter (a retry after a lost commit, a second sweep,
a redelivered call: still one), attendance by status, and the minutes: chair sign-off before issue,
DOCX that python-docx opens, printable HTML, acknowledgements, the minutes-due timer."""

from __future__ import annotations

import io
from typing import Any

import sqlalchemy as sa
from docx import Document

from steward.issues.testing import Issues
from steward.kit.clients.issues import DecisionMatter
from steward.kit.clock import Clock
from steward.kit.timers import DueTimer
from steward.meetings.testing import Meetings, auth, local
from steward.registry.testing import Registry, Tree, make_tree


class Crash(Exception):
    pass


async def _held_meeting(
    meetings: Meetings, issues: Issues, d: str, clock: Clock
) -> tuple[dict[str, Any], dict[str, str]]:
    clock.set(local(2026, 11, 2, 9))
    issues.clock.set(local(2026, 11, 2, 9))
    org = auth(d, "dispatcher", sub="zhongdianban")
    r = await meetings.http.post("/v1/series/sync", json={"tenant": d}, headers=org)
    assert r.status_code == 200
    series = r.json()["items"][0]
    participants = [
        {"subject": "chief", "name": "赵主任", "unit_name": "管委会"},
        {"subject": "nr-head", "name": "钱局长", "unit_name": "自然资源局"},
        {"subject": "hb-head", "name": "孙局长", "unit_name": "生态环境局"},
    ]
    r = await meetings.http.patch(
        f"/v1/series/{series['id']}",
        json={
            "location": "管委会三楼会议室",
            "chair_subject": "chief",
            "chair_name": "赵主任",
            "participants": participants,
        },
        headers=org,
    )
    assert r.status_code == 200, r.text
    await meetings.sweep()
    rows = (
        await meetings.http.get("/v1/meetings", params={"tenant": d, "upcoming_first": "true"}, headers=org)
    ).json()
    m = rows["items"][0]
    assert m["regular_date"] == "2026-11-07" and m["chair_subject"] == "chief"
    clock.set(local(2026, 11, 7, 11))
    issues.clock.set(local(2026, 11, 7, 11))
    r = await meetings.http.put(
        f"/v1/meetings/{m['id']}/attendance",
        json={
            "items": [
                {"person": "chief", "name": "赵主任", "unit_name": "管委会", "status": "present"},
                {
                    "person": "nr-head",
                    "name": "钱局长",
                    "unit_id": "u-nr",
                    "unit_name": "自然资源局",
                    "status": "deputy",
                    "deputy_name": "周副局长",
                },
                {
                    "person": "hb-head",
                    "name": "孙局长",
                    "unit_id": "u-hb",
                    "unit_name": "生态环境局",
                    "status": "leave",
                    "reason": "省厅开会",
                },
                {
                    "person": "zj-head",
                    "name": "吴局长",
                    "unit_id": "u-zj",
                    "unit_name": "住建局",
                    "status": "absent",
                },
                {"person": "tj", "name": "郑科长", "unit_name": "统计局", "status": "observer"},
            ]
        },
        headers=org,
    )
    assert r.status_code == 200, r.text
    assert r.json()["counts"] == {
        "present": 1,
        "late": 0,
        "leave": 1,
        "deputy": 1,
        "absent": 1,
        "observer": 1,
    }
    return m, org


async def _matters(issues: Issues, key: str) -> int:
    async with issues.db.read() as session:
        return int(
            (
                await session.execute(
                    sa.text("SELECT count(*) FROM matters WHERE idempotency_key = :k"), {"k": key}
                )
            ).scalar_one()
        )


async def test_a_decision_becomes_exactly_one_matter(
    meetings: Meetings, issues: Issues, tree: Tree, clock: Clock
) -> None:
    d = tree.districts[0]
    m, org = await _held_meeting(meetings, issues, d, clock)
    r = await meetings.http.post(
        f"/v1/meetings/{m['id']}/decisions",
        json={
            "text": "自然资源局10日内完成用地预审",
            "responsible_unit_name": "自然资源局",
            "responsible_unit_id": "u-nr",
            "due_date": "2026-11-20",
        },
        headers=org,
    )
    assert r.status_code == 201, r.text
    decision = r.json()
    key = f"decision:{decision['id']}"
    # the filing step runs, then the process "dies" before its transaction commits
    handler = meetings.runtime.timer_handlers["decision.file"]
    try:
        async with meetings.db.transaction() as session:
            timer = (
                await session.execute(sa.select(DueTimer).where(DueTimer.key == decision["id"]))
            ).scalar_one()
            await handler(session, timer)
            raise Crash
    except Crash:
        pass
    assert await _matters(issues, key) == 1  # the matter exists, the meetings side forgot it
    got = (await meetings.http.get(f"/v1/meetings/{m['id']}/decisions", headers=org)).json()["items"][0]
    assert got["matter_id"] is None
    # after the restart the timer fires again: the issues service answers with the same matter
    await meetings.sweep()
    got = (await meetings.http.get(f"/v1/meetings/{m['id']}/decisions", headers=org)).json()["items"][0]
    assert got["matter_id"] and await _matters(issues, key) == 1
    # a plain retry of the call is a replay too
    again = await meetings.runtime.ctx.issues.create_decision(
        DecisionMatter(tenant=d, meeting_id=m["id"], decision_id=decision["id"], title="retry")
    )
    assert again.id == got["matter_id"] and await _matters(issues, key) == 1
    matter = (await issues.http.get(f"/v1/matters/{got['matter_id']}", headers=org)).json()
    assert matter["kind"] == "decision" and matter["due_date"] == "2026-11-20"
    assert matter["responsible_unit_name"] == "自然资源局"


async def test_minutes_signed_by_the_chair_then_issued(
    meetings: Meetings, issues: Issues, tree: Tree, clock: Clock
) -> None:
    d = tree.districts[1]
    m, org = await _held_meeting(meetings, issues, d, clock)
    mid = m["id"]
    for text, unit in (("完成供电线路接入", "供电公司"), ("出具规划条件", "自然资源局")):
        r = await meetings.http.post(
            f"/v1/meetings/{mid}/decisions", json={"text": text, "responsible_unit_name": unit}, headers=org
        )
        assert r.status_code == 201
    r = await meetings.http.put(
        f"/v1/meetings/{mid}/minutes", json={"summary": "各单位要倒排工期"}, headers=org
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "meeting_not_held"
    assert (await meetings.http.post(f"/v1/meetings/{mid}/hold", json={}, headers=org)).status_code == 200
    r = await meetings.http.put(
        f"/v1/meetings/{mid}/minutes", json={"summary": "各单位要倒排工期"}, headers=org
    )
    assert r.status_code == 200, r.text
    minutes = r.json()
    assert minutes["status"] == "draft" and minutes["number"].startswith("〔2026〕第")
    assert minutes["due_at"].startswith("2026-11-10T16:00")  # 2 working days after Sat 11/7: end of Tue 11/10
    # never issued without the chair's sign-off; only the chair signs
    r = await meetings.http.post(f"/v1/meetings/{mid}/minutes/issue", headers=org)
    assert r.status_code == 409 and r.json()["error"]["code"] == "chair_signoff_missing"
    r = await meetings.http.post(
        f"/v1/meetings/{mid}/minutes/sign", json={}, headers=auth(d, "leader", sub="deputy")
    )
    assert r.status_code == 403
    chair = auth(d, "leader", sub="chief")
    assert (await meetings.http.post(f"/v1/meetings/{mid}/minutes/sign", json={}, headers=chair)).json()[
        "status"
    ] == "signed"
    r = await meetings.http.post(f"/v1/meetings/{mid}/minutes/issue", headers=org)
    assert r.status_code == 200 and r.json()["status"] == "issued" and r.json()["outstanding"] == 5
    r = await meetings.http.post(f"/v1/meetings/{mid}/minutes/ack", headers=auth(d, "leader", sub="nr-head"))
    assert r.status_code == 200 and r.json()["outstanding"] == 4
    pending = [x["subject"] for x in r.json()["recipients"] if x["acknowledged_at"] is None]
    assert "hb-head" in pending and "nr-head" not in pending
    r = await meetings.http.post(f"/v1/meetings/{mid}/minutes/ack", headers=auth(d, "leader", sub="stranger"))
    assert r.status_code == 403

    r = await meetings.http.get(f"/v1/meetings/{mid}/minutes.docx", headers=org)
    assert r.status_code == 200
    text = "\n".join(p.text for p in Document(io.BytesIO(r.content)).paragraphs)
    assert minutes["title"] in text and "赵主任" in text and "管委会三楼会议室" in text
    assert "1. 完成供电线路接入 责任单位：供电公司" in text and "2. 出具规划条件 责任单位：自然资源局" in text
    assert "完成时限：2026年11月20日前" in text  # 10 working days after Sat 11/7 (default)
    assert "委托参会：自然资源局 钱局长（委托 周副局长 参会）" in text
    assert (
        "请假：生态环境局 孙局长（省厅开会）" in text
        and "缺席：住建局 吴局长" in text
        and "列席：统计局 郑科长" in text
    )
    page = await meetings.http.get(f"/v1/meetings/{mid}/minutes.html", headers=org)
    assert page.status_code == 200 and "<h1>" in page.text and "责任单位：供电公司" in page.text


async def test_minutes_due_timer_reports_lateness(
    meetings: Meetings, issues: Issues, tree: Tree, clock: Clock
) -> None:
    d = tree.districts[2]
    m, org = await _held_meeting(meetings, issues, d, clock)
    assert (await meetings.http.post(f"/v1/meetings/{m['id']}/hold", json={}, headers=org)).status_code == 200
    await meetings.sweep()
    assert (
        await meetings.http.put(f"/v1/meetings/{m['id']}/minutes", json={}, headers=org)
    ).status_code == 200
    clock.set(local(2026, 11, 10, 23, 59))
    await meetings.sweep()
    assert (await meetings.http.get(f"/v1/meetings/{m['id']}/minutes", headers=org)).json()[
        "overdue"
    ] is False
    clock.set(local(2026, 11, 11, 0, 1))
    await meetings.sweep()
    assert (await meetings.http.get(f"/v1/meetings/{m['id']}/minutes", headers=org)).json()["overdue"] is True


async def test_a_refused_decision_says_why_and_stops_retrying(
    meetings: Meetings, issues: Issues, registry: Registry, clock: Clock
) -> None:
    d = (await make_tree(registry)).districts[0]
    m, org = await _held_meeting(meetings, issues, d, clock)
    r = await meetings.http.post(
        f"/v1/meetings/{m['id']}/decisions",
        json={"text": "限期完成", "responsible_unit_name": "住建局", "due_date": "2026-11-10"},
        headers=org,
    )
    assert r.status_code == 201
    r = await meetings.http.post(
        f"/v1/meetings/{m['id']}/decisions",
        json={"text": "昨日之前", "responsible_unit_name": "住建局", "due_date": "2026-11-06"},
        headers=org,
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_due_date"
    issues.clock.set(local(2026, 11, 12, 9))  # the issues service was down until after the deadline
    await meetings.sweep()
    got = (await meetings.http.get(f"/v1/meetings/{m['id']}/decisions", headers=org)).json()["items"]
    assert got[0]["matter_id"] is None and "past" in got[0]["filing_error"]
    async with meetings.db.read() as session:
        left = (await session.execute(sa.select(DueTimer).where(DueTimer.key == got[0]["id"]))).first()
    assert left is None
