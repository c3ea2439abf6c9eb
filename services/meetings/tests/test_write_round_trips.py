"""The everyday writes of a meeting in a fixed number of round trips (docs/architecture.md §2): a
topic submitted, a decision recorded, attendance recorded — each BEGIN, the meeting row locked, what
the write needs read in one statement, the rows with their audit entry, event, NOTIFY and timer sent
as one statement (``steward.kit.writes``), COMMIT. The views are called in the test's own task so
that only their round trips are counted; the rows are checked to be all there."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from steward.kit.auth import Principal, Role
from steward.kit.clock import Clock
from steward.kit.testing import RoundTrips
from steward.meetings.agenda import views as agenda_views
from steward.meetings.agenda.schemas import TopicCreate
from steward.meetings.decisions import views as decision_views
from steward.meetings.decisions.schemas import DecisionCreate
from steward.meetings.meetings import views as meeting_views
from steward.meetings.meetings.schemas import AttendanceBatch
from steward.meetings.testing import Meetings, auth, local
from steward.registry.testing import Tree


async def _meeting(meetings: Meetings, d: str, clock: Clock) -> dict[str, Any]:
    clock.set(local(2026, 11, 2, 9))
    org = auth(d, "dispatcher")
    r = await meetings.http.post("/v1/series/sync", json={"tenant": d}, headers=org)
    assert r.status_code == 200, r.text
    await meetings.sweep()
    r = await meetings.http.get("/v1/meetings", params={"tenant": d, "upcoming_first": "true"}, headers=org)
    m: dict[str, Any] = r.json()["items"][0]
    assert m["regular_date"] == "2026-11-07"
    return m


async def _kit_rows(meetings: Meetings, entity_id: str) -> tuple[list[str], list[str], list[str]]:
    """Audit actions, outbox event types and timer kinds written for ``entity_id``."""
    async with meetings.db.read() as s:
        audit = (
            await s.execute(
                sa.text("SELECT action FROM steward_audit WHERE entity_id = :e"), {"e": entity_id}
            )
        ).scalars()
        events = (
            await s.execute(
                sa.text("SELECT type FROM steward_outbox WHERE payload->>'subject' = :e ORDER BY type"),
                {"e": entity_id},
            )
        ).scalars()
        timers = (
            await s.execute(sa.text("SELECT kind FROM steward_timers WHERE key = :e"), {"e": entity_id})
        ).scalars()
        return sorted(audit), list(events), list(timers)


async def test_topic_submission_is_five_round_trips(meetings: Meetings, tree: Tree, clock: Clock) -> None:
    d = tree.districts[0]
    m = await _meeting(meetings, d, clock)
    unit = Principal(subject="hq-clerk", tenant=d, roles=frozenset({Role.SPECIALIST}))
    body = TopicCreate(
        meeting_id=m["id"],
        title="供电线路接入",
        problem="线路迁改滞后",
        request="请供电公司协调",
        unit_name="产业园项目指挥部",
        departments=["自然资源局", "住建局"],
    )
    ctx = meetings.runtime.ctx
    with RoundTrips(meetings.db) as trips:
        out = await agenda_views.submit(ctx, unit, None, body)
    # BEGIN, the meeting locked, one statement, its series (the sign-offs it asks for), COMMIT
    assert trips.count == 5, trips.sent
    assert trips.sent[2].startswith("WITH") and "pg_notify" in trips.sent[2], trips.sent
    assert out.missing_signoffs == ["unit_head", "leader_in_charge"] and out.signoffs == []
    assert await _kit_rows(meetings, str(out.id)) == (["submit"], ["steward.agenda.submitted.v1"], [])
    r = await meetings.http.get(f"/v1/topics/{out.id}", headers=auth(d, "dispatcher"))
    assert (
        r.status_code == 200
        and r.json()["title"] == "供电线路接入"
        and r.json()["departments"]
        == [
            "自然资源局",
            "住建局",
        ]
    )


async def test_a_decision_is_five_round_trips(meetings: Meetings, tree: Tree, clock: Clock) -> None:
    d = tree.districts[0]
    m = await _meeting(meetings, d, clock)
    org = Principal(subject="zhongdianban", tenant=d, roles=frozenset({Role.DISPATCHER}))
    ctx = meetings.runtime.ctx
    numbers = []
    for i in range(2):
        body = DecisionCreate(text=f"议定事项{i}", responsible_unit_name="自然资源局")
        with RoundTrips(meetings.db) as trips:
            out = await decision_views.record_decision(ctx, org, m["id"], body)
        # BEGIN, the meeting locked, the facts (minutes, last number, series, topic), one statement, COMMIT
        assert trips.count == 5, trips.sent
        assert trips.sent[3].startswith("WITH") and "steward_timers" in trips.sent[3], trips.sent
        numbers.append(out.number)
        assert await _kit_rows(meetings, str(out.id)) == (
            ["decide"],
            ["steward.decision.recorded.v1"],
            ["decision.file"],
        )
    assert numbers == [1, 2]
    # the facts statement refuses as before: a topic of another meeting, or none, is not found
    r = await meetings.http.get(
        "/v1/meetings", params={"tenant": d, "upcoming_first": "true"}, headers=auth(d, "dispatcher")
    )
    other = next(x for x in r.json()["items"] if x["id"] != m["id"])
    unit = Principal(subject="hq-clerk", tenant=d, roles=frozenset({Role.SPECIALIST}))
    body = TopicCreate(
        meeting_id=other["id"], title="另一会议的议题", problem="p", request="q", unit_name="u"
    )
    elsewhere = await agenda_views.submit(ctx, unit, None, body)
    for topic in (str(elsewhere.id), str(uuid.uuid4())):
        r = await meetings.http.post(
            f"/v1/meetings/{m['id']}/decisions",
            json={"text": "x", "responsible_unit_name": "y", "topic_id": topic},
            headers=auth(d, "dispatcher"),
        )
        assert r.status_code == 404, r.text


async def test_attendance_is_five_round_trips_for_any_number_of_people(
    meetings: Meetings, tree: Tree, clock: Clock
) -> None:
    d = tree.districts[0]
    m = await _meeting(meetings, d, clock)
    org = Principal(subject="zhongdianban", tenant=d, roles=frozenset({Role.DISPATCHER}))
    ctx = meetings.runtime.ctx
    for people, status in ((3, "present"), (12, "late")):
        body = AttendanceBatch.model_validate(
            {
                "items": [
                    {"person": f"p{k}", "name": f"参会人{k}", "unit_name": "自然资源局", "status": status}
                    for k in range(people)
                ]
            }
        )
        with RoundTrips(meetings.db) as trips:
            out = await meeting_views.record_attendance(ctx, org, m["id"], body)
        # BEGIN, the meeting locked, every upsert and the audit entry in one statement, the list, COMMIT
        assert trips.count == 5, trips.sent
        assert trips.sent[2].startswith("WITH") and trips.sent[3].startswith("SELECT attendance"), trips.sent
        assert len(out.items) == people
    assert out.counts["late"] == 12 and out.counts["present"] == 0  # the later entries replaced the earlier
    audit, _, _ = await _kit_rows(meetings, m["id"])
    assert audit.count("attendance") == 2
