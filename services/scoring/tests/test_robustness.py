"""No 5xx from hostile input: malformed periods, tenants, ids, tokens, text and numbers get a 4xx
with the error body; gRPC answers INVALID_ARGUMENT / NOT_FOUND."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from steward.api.scoring.v1 import scoring_pb2 as pb
from steward.api.scoring.v1 import scoring_pb2_grpc as pb_grpc
from steward.registry.testing import Tree
from steward.scoring.testing import Scoring, auth, local, token


async def test_hostile_rest_input_gets_4xx(scoring: Scoring, tree: Tree, clock: Any) -> None:
    d = tree.districts[0]
    h = auth(d, "supervisor")
    at = local(2026, 8, 1).isoformat()
    cases: list[tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]] = [
        ("GET", "/v1/scoring/scores/agent/x", None, {"period": "2026-13"}),
        ("GET", "/v1/scoring/scores/agent/x", None, {"period": "2026-Q3", "tenant": "abc"}),
        ("GET", "/v1/scoring/scores/agent/x", None, {"period": "2026-11"}),  # a month on a quarterly card
        ("GET", "/v1/scoring/scores/nope/x", None, {"period": "2026-Q3"}),
        ("GET", "/v1/scoring/scores/agent/x%00", None, {"period": "2026-Q3"}),
        (
            "POST",
            "/v1/scoring/entries",
            {
                "tenant": d,
                "scorecard": "agent",
                "subject_id": "a",
                "dimension": "overall",
                "points": "1e9",
                "reason_zh": "大",
            },
            None,
        ),
        (
            "POST",
            "/v1/scoring/entries",
            {
                "tenant": d,
                "scorecard": "agent",
                "subject_id": "a",
                "dimension": "nope",
                "points": "-1",
                "reason_zh": "理由",
            },
            None,
        ),
        (
            "POST",
            "/v1/scoring/entries",
            {
                "tenant": d,
                "scorecard": "agent",
                "subject_id": "a",
                "dimension": "overall",
                "points": "-1",
                "reason_zh": "理由\x00",
            },
            None,
        ),
        (
            "POST",
            "/v1/scoring/entries",
            {
                "tenant": d,
                "scorecard": "agent",
                "subject_id": "a",
                "dimension": "overall",
                "points": "-1",
                "reason_zh": "未来",
                "occurred_at": "2099-01-01T00:00:00+08:00",
            },
            None,
        ),
        ("POST", "/v1/scoring/entries/not-a-uuid/corrections", {"reason_zh": "理由"}, None),
        (
            "POST",
            "/v1/scoring/entries/00000000-0000-0000-0000-000000000000/corrections",
            {"reason_zh": "理由"},
            None,
        ),
        ("POST", "/v1/scoring/facts", {"tenant": d, "type": "Bad Type", "id": "1", "occurred_at": at}, None),
        (
            "POST",
            "/v1/scoring/facts",
            {"tenant": d, "type": "a.b", "id": "1", "occurred_at": "2026-08-01T00:00:00"},
            None,
        ),
        (
            "POST",
            "/v1/scoring/facts",
            {"tenant": "999999", "type": "a.b", "id": "1", "occurred_at": at},
            None,
        ),
        ("POST", "/v1/scoring/periods/agent/2026-Q9/close", {"tenant": d}, None),
        ("POST", "/v1/scoring/periods/agent/2026-11/close", {"tenant": d}, None),
        ("POST", "/v1/scoring/periods/agent/2026-Q1/replay", None, {"tenant": d}),
        ("GET", "/v1/scoring/rankings/none/2026-Q3", None, {"tenant": d}),
        ("GET", "/v1/scoring/rankings/unit_quarterly/2026-11", None, {"tenant": d}),
        ("GET", "/v1/scoring/surveys/answer/garbage-token-value", None, None),
        (
            "POST",
            "/v1/scoring/surveys/answer/00000000-0000-0000-0000-000000000000.abc",
            {"answers": {}},
            None,
        ),
        ("GET", "/v1/scoring/lights/unknown-project", None, None),
        (
            "GET",
            "/v1/scoring/ledger/export",
            None,
            {"scorecard": "agent", "period": "2026-Q3", "format": "pdf"},
        ),
    ]
    for method, url, body, params in cases:
        r = await scoring.http.request(method, url, json=body, params=params, headers=h)
        assert 400 <= r.status_code < 500, (url, r.status_code, r.text)
        assert "error" in r.json(), (url, r.text)
    assert (
        await scoring.http.get("/v1/scoring/scores/agent/x", params={"period": "2026-Q3"})
    ).status_code == 401


async def test_hostile_grpc_input(scoring: Scoring, tree: Tree) -> None:
    d = tree.districts[0]
    meta = (("authorization", f"Bearer {token(d)}"),)
    async with grpc.aio.insecure_channel(scoring.grpc_target) as channel:
        stub = pb_grpc.ScoringServiceStub(channel)
        for req, code in (
            (
                pb.GetScoreRequest(scorecard="agent", period="2026-Q3", subject_id=""),
                grpc.StatusCode.INVALID_ARGUMENT,
            ),
            (
                pb.GetScoreRequest(scorecard="Agent!", period="2026-Q3", subject_id="a"),
                grpc.StatusCode.INVALID_ARGUMENT,
            ),
            (
                pb.GetScoreRequest(tenant="x\x00", scorecard="agent", period="2026-Q3", subject_id="a"),
                grpc.StatusCode.INVALID_ARGUMENT,
            ),
            (
                pb.GetScoreRequest(scorecard="agent", period="2026-Q3", subject_id="nobody"),
                grpc.StatusCode.NOT_FOUND,
            ),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.GetScore(req, metadata=meta, timeout=10)
            assert err.value.code() == code, req
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetLight(pb.GetLightRequest(project_id="nope"), metadata=meta, timeout=10)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetRanking(
                pb.GetRankingRequest(ranking="unit_quarterly", period="x"), metadata=meta, timeout=10
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetScore(pb.GetScoreRequest(), timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
