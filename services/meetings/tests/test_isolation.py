"""A district never reads or changes a sibling's meetings, topics or minutes (REST and gRPC); bad
input answers a clear 4xx and writes nothing."""

from __future__ import annotations

import grpc
import pytest
import sqlalchemy as sa

from steward.api.meetings.v1 import meetings_pb2 as pb
from steward.api.meetings.v1 import meetings_pb2_grpc as pb_grpc
from steward.kit.clock import Clock
from steward.kit.grpc import bearer_metadata
from steward.meetings.testing import Meetings, auth, local, token
from steward.registry.testing import Tree


async def _count(meetings: Meetings, table: str) -> int:
    async with meetings.db.read() as session:
        return int((await session.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def _meeting(meetings: Meetings, d: str) -> dict:
    org = auth(d, "dispatcher")
    assert (await meetings.http.post("/v1/series/sync", json={"tenant": d}, headers=org)).status_code == 200
    await meetings.sweep()
    r = await meetings.http.get("/v1/meetings", params={"tenant": d, "upcoming_first": "true"}, headers=org)
    return r.json()["items"][0]


async def test_a_sibling_district_sees_and_changes_nothing(
    meetings: Meetings, tree: Tree, clock: Clock
) -> None:
    clock.set(local(2026, 11, 2, 9))
    mine, sibling = tree.districts[0], tree.districts[1]
    m = await _meeting(meetings, mine)
    topic = await meetings.http.post(
        "/v1/topics",
        json={
            "meeting_id": m["id"],
            "title": "内部议题",
            "problem": "p",
            "request": "r",
            "unit_name": "指挥部",
        },
        headers=auth(mine, "specialist"),
    )
    assert topic.status_code == 201
    other = auth(sibling, "tenant_admin")
    for path in (
        f"/v1/meetings/{m['id']}",
        f"/v1/topics/{topic.json()['id']}",
        f"/v1/meetings/{m['id']}/decisions",
        f"/v1/meetings/{m['id']}/attendance",
        f"/v1/meetings/{m['id']}/minutes",
        f"/v1/series/{m['series_id']}",
    ):
        r = await meetings.http.get(path, headers=other)
        assert r.status_code == 404, (path, r.text)
        assert "内部议题" not in r.text
    r = await meetings.http.get("/v1/meetings", params={"tenant": mine}, headers=other)
    assert r.status_code == 404
    listed = (await meetings.http.get("/v1/meetings", headers=other)).json()["items"]
    assert all(x["tenant"] != mine for x in listed)
    writes = [
        ("post", f"/v1/meetings/{m['id']}/cancel", {"reason": "x"}),
        ("post", f"/v1/meetings/{m['id']}/decisions", {"text": "x", "responsible_unit_name": "y"}),
        ("post", f"/v1/topics/{topic.json()['id']}/withdraw", {"reason": "x"}),
        (
            "post",
            "/v1/topics",
            {"meeting_id": m["id"], "title": "x", "problem": "p", "request": "r", "unit_name": "u"},
        ),
        ("post", "/v1/series/sync", {"tenant": mine}),
    ]
    before = await _count(meetings, "steward_audit")
    for method, path, body in writes:
        r = await getattr(meetings.http, method)(path, json=body, headers=other)
        assert r.status_code in (403, 404), (path, r.text)
    assert await _count(meetings, "steward_audit") == before
    # the city above both sees the district's meeting
    assert (
        await meetings.http.get(f"/v1/meetings/{m['id']}", headers=auth(tree.city, "supervisor"))
    ).status_code == 200

    channel = grpc.aio.insecure_channel(meetings.grpc_target)
    stub = pb_grpc.MeetingsServiceStub(channel)
    meta = bearer_metadata(token(sibling, "tenant_admin"))
    try:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetMeeting(pb.GetMeetingRequest(id=m["id"]), metadata=meta)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.ListDecisions(pb.ListDecisionsRequest(meeting_id=m["id"]), metadata=meta)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.ListMeetings(pb.ListMeetingsRequest(tenant=mine), metadata=meta)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        own = await stub.GetMeeting(
            pb.GetMeetingRequest(id=m["id"]), metadata=bearer_metadata(token(mine, "supervisor"))
        )
        assert own.tenant == mine and own.topics == 1
    finally:
        await channel.close()


async def test_attendance_over_grpc_for_scoring(meetings: Meetings, tree: Tree, clock: Clock) -> None:
    clock.set(local(2026, 11, 2, 9))
    d = tree.districts[2]
    m = await _meeting(meetings, d)
    org = auth(d, "dispatcher")
    clock.set(local(2026, 11, 7, 12))
    r = await meetings.http.put(
        f"/v1/meetings/{m['id']}/attendance",
        json={
            "items": [
                {"person": "agent-1", "name": "代办员甲", "unit_id": "u-fgj", "status": "absent"},
                {"person": "agent-2", "name": "代办员乙", "unit_id": "u-fgj", "status": "late"},
            ]
        },
        headers=org,
    )
    assert r.status_code == 200
    assert (await meetings.http.post(f"/v1/meetings/{m['id']}/hold", json={}, headers=org)).status_code == 200
    channel = grpc.aio.insecure_channel(meetings.grpc_target)
    stub = pb_grpc.MeetingsServiceStub(channel)
    try:
        meta = bearer_metadata(token(d, "supervisor"))
        got = await stub.GetAttendance(
            pb.GetAttendanceRequest(unit_id="u-fgj", from_date="2026-11-01", to_date="2026-11-30"),
            metadata=meta,
        )
        assert (got.absent, got.late, len(got.records)) == (1, 1, 2)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetAttendance(pb.GetAttendanceRequest(person="agent-1", unit_id="u"), metadata=meta)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        other = bearer_metadata(token(tree.districts[0], "supervisor"))
        got = await stub.GetAttendance(
            pb.GetAttendanceRequest(unit_id="u-fgj", from_date="2026-11-01", to_date="2026-11-30"),
            metadata=other,
        )
        assert len(got.records) == 0  # the sibling sees none of it
    finally:
        await channel.close()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        (
            "post",
            "/v1/topics",
            {"meeting_id": "not-a-uuid", "title": "x", "problem": "p", "request": "r", "unit_name": "u"},
        ),
        ("post", "/v1/topics", {"title": "x", "problem": "p", "request": "r", "unit_name": "u"}),
        (
            "post",
            "/v1/topics",
            {
                "tenant": "210112",
                "series_key": "k",
                "title": "x\x00",
                "problem": "p",
                "request": "r",
                "unit_name": "u",
            },
        ),
        (
            "post",
            "/v1/meetings",
            {"tenant": "12", "title": "x", "starts_at": "2026-11-03T15:00:00+08:00", "reason": "r"},
        ),
        (
            "post",
            "/v1/meetings",
            {
                "tenant": "210112",
                "title": "x",
                "starts_at": "2036-11-03T15:00:00+08:00",
                "reason": "r",
                "extra": 1,
            },
        ),
        ("post", "/v1/series/sync", {"tenant": "abc"}),
        ("get", "/v1/meetings?cursor=%%%", None),
        ("get", "/v1/meetings?limit=100000", None),
        ("get", "/v1/meetings/00000000-0000-0000-0000-000000000000", None),
        ("get", "/v1/topics/nope", None),
    ],
)
async def test_bad_input_is_a_clear_4xx(
    meetings: Meetings, tree: Tree, method: str, path: str, body: dict | None
) -> None:
    d = tree.districts[0]
    before = await _count(meetings, "steward_audit")
    headers = auth(d, "tenant_admin")
    r = await (
        meetings.http.get(path, headers=headers)
        if method == "get"
        else meetings.http.post(path, json=body, headers=headers)
    )
    assert 400 <= r.status_code < 500, r.text
    assert "error" in r.json() and r.json()["error"]["code"]
    assert await _count(meetings, "steward_audit") == before
