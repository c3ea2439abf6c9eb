"""An event delivered three times over JetStream scores once (rows counted in PostgreSQL); a sibling
district cannot read a district's scores, over REST or gRPC."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest
import sqlalchemy as sa

from steward.api.scoring.v1 import scoring_pb2 as pb
from steward.api.scoring.v1 import scoring_pb2_grpc as pb_grpc
from steward.registry.testing import Tree
from steward.scoring.testing import Scoring, auth, cloud_event, local, publish, token, wait_for


async def _count(scoring: Scoring, sql: str, **params: Any) -> int:
    async with scoring.db.read() as session:
        return int((await session.execute(sa.text(sql), params)).scalar_one())


async def test_event_delivered_three_times_scores_once(
    scoring: Scoring, tree: Tree, nats_url: str, clock: Any
) -> None:
    d = tree.districts[0]
    agent = f"agent-{uuid.uuid4().hex[:6]}"
    event = cloud_event(
        "procedure.completed",
        d,
        {
            "file_id": "f1",
            "project_id": "p1",
            "project_code": "c1",
            "level": "city",
            "matter_id": f"m-{agent}",
            "number": "n1",
            "procedure_code": "filing",
            "procedure_name": "备案",
            "department": "发改局",
            "procedure_level": "city",
            "difficulty": "easy",
            "green_channel": False,
            "promised_days": 5,
            "overdue": True,
            "delay_cause": "department",
            "level1_agent": "agent-1",
            "level2_agent": agent,
            "delay_attributed_to": agent,
        },
        at=local(2026, 8, 20, 10),
    )
    for _ in range(3):  # no Nats-Msg-Id: the stream keeps all three, the consumer sees three deliveries
        await publish(nats_url, event)
    sentinel = cloud_event("attendance.late", d, {"agent": agent}, at=local(2026, 8, 21, 9))
    await publish(nats_url, sentinel)

    async def sentinel_scored() -> int:
        return await _count(
            scoring, "SELECT count(*) FROM scoring_entries WHERE source = :s", s=sentinel["id"]
        )

    await wait_for(sentinel_scored)
    assert await _count(scoring, "SELECT count(*) FROM scoring_entries WHERE source = :s", s=event["id"]) == 1
    assert (
        await _count(
            scoring, "SELECT count(*) FROM steward_inbox WHERE event_id = CAST(:s AS uuid)", s=event["id"]
        )
        == 1
    )
    row = (
        await scoring.http.get(
            f"/v1/scoring/scores/agent/{agent}", params={"period": "2026-Q3", "tenant": d}, headers=auth(d)
        )
    ).json()
    assert [(e["rule"], e["points"]) for e in row["entries"]] == [
        ("level2_delay", "-1.00"),
        ("late_or_early", "-0.20"),
    ]


async def test_sibling_district_cannot_read_scores(scoring: Scoring, tree: Tree, clock: Any) -> None:
    d, sibling = tree.districts[0], tree.districts[1]
    agent = f"agent-{uuid.uuid4().hex[:6]}"
    r = await scoring.http.post(
        "/v1/scoring/facts",
        json={
            "tenant": d,
            "type": "attendance.absent",
            "id": agent,
            "occurred_at": local(2026, 8, 1, 9).isoformat(),
            "data": {"agent": agent},
        },
        headers=auth(d, "supervisor"),
    )
    assert r.status_code == 201
    params = {"period": "2026-Q3"}
    own = await scoring.http.get(
        f"/v1/scoring/scores/agent/{agent}", params={**params, "tenant": d}, headers=auth(d)
    )
    city = await scoring.http.get(
        f"/v1/scoring/scores/agent/{agent}", params={**params, "tenant": tree.city}, headers=auth(tree.city)
    )
    assert own.status_code == city.status_code == 200
    for tenant in (d, None):  # naming the district, or reading its own subtree
        q = {**params, **({"tenant": tenant} if tenant else {})}
        r = await scoring.http.get(f"/v1/scoring/scores/agent/{agent}", params=q, headers=auth(sibling))
        assert r.status_code == 404, r.text
    # a sibling cannot write into the district either
    r = await scoring.http.post(
        "/v1/scoring/facts",
        json={
            "tenant": d,
            "type": "attendance.absent",
            "id": "x",
            "occurred_at": local(2026, 8, 1, 9).isoformat(),
            "data": {"agent": agent},
        },
        headers=auth(sibling, "supervisor"),
    )
    assert r.status_code == 403

    async with grpc.aio.insecure_channel(scoring.grpc_target) as channel:
        stub = pb_grpc.ScoringServiceStub(channel)
        req = pb.GetScoreRequest(tenant=d, scorecard="agent", period="2026-Q3", subject_id=agent)
        mine = await stub.GetScore(req, metadata=(("authorization", f"Bearer {token(d)}"),), timeout=10)
        assert mine.total == "99.00" and mine.entries[0].applied == "-1.00"
        for tenant in (d, ""):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.GetScore(
                    pb.GetScoreRequest(tenant=tenant, scorecard="agent", period="2026-Q3", subject_id=agent),
                    metadata=(("authorization", f"Bearer {token(sibling)}"),),
                    timeout=10,
                )
            assert err.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.GetScore(
                pb.GetScoreRequest(tenant=d, scorecard="agent", period="2026-13", subject_id=agent),
                metadata=(("authorization", f"Bearer {token(d)}"),),
                timeout=10,
            )
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        ranking = await stub.GetRanking(
            pb.GetRankingRequest(tenant=d, ranking="unit_quarterly", period="2026-Q3"),
            metadata=(("authorization", f"Bearer {token(d)}"),),
            timeout=10,
        )
        assert ranking.published is False


async def test_meeting_absence_is_scored_for_every_absent_person(
    scoring: Scoring, tree: Tree, nats_url: str, clock: Any
) -> None:
    from steward.events.meetings import MeetingHeld

    d = tree.districts[2]
    a, b = f"agent-{uuid.uuid4().hex[:6]}", f"agent-{uuid.uuid4().hex[:6]}"
    body = MeetingHeld(
        meeting_id="mt-1",
        title="重大项目推进周例会",
        starts_at=local(2026, 8, 8, 9),
        present=12,
        absent=2,
        absent_subjects=[a, b, a],
    ).model_dump(mode="json")
    event = cloud_event("meeting.held", d, body, at=local(2026, 8, 8, 12), source="/steward/meetings")
    await publish(nats_url, event)

    async def scored() -> int:
        n = await _count(scoring, "SELECT count(*) FROM scoring_entries WHERE source = :s", s=event["id"])
        return n if n >= 2 else 0

    assert await wait_for(scored) == 2
    r = await scoring.http.get(
        f"/v1/scoring/scores/agent/{b}", params={"period": "2026-Q3", "tenant": d}, headers=auth(d)
    )
    assert [(e["rule"], e["dimension"], e["points"]) for e in r.json()["entries"]] == [
        ("meeting_absent", "discipline", "-1.00")
    ]
