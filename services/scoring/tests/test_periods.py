"""Closing a period freezes its rules; a replay after a rules change gives identical totals."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from steward.registry.testing import Registry, Tree
from steward.rules.scoring_presets import ANYANG_AGENT_SCORECARD
from steward.scoring.testing import Scoring, auth, local

from .helpers import UNIT_CARD, dims, fact, score


async def test_closed_period_replays_identically_after_a_rules_change(
    scoring: Scoring, registry: Registry, tree: Tree, clock: Any
) -> None:
    d = tree.districts[0]
    agent = "agent-zhao"
    clock.set(local(2026, 9, 30, 12))
    for day in (1, 2):
        await fact(
            scoring,
            d,
            "procedure.incomplete_at_period_end",
            local(2026, 9, day, 9),
            agent=agent,
            key_level="provincial",
            difficulty="hard",
        )
    await fact(scoring, d, "attendance.unauthorised_leave", local(2026, 9, 3, 9), agent=agent)
    before = await score(scoring, d, agent)
    assert dims(before)["performance"] == Decimal(29) and dims(before)["discipline"] == Decimal(18)

    # the quarter is not over yet
    early = await scoring.http.post(
        "/v1/scoring/periods/agent/2026-Q3/close", json={"tenant": d}, headers=auth(d)
    )
    assert early.status_code == 409 and early.json()["error"]["code"] == "period_not_over"
    clock.set(local(2026, 10, 8, 9))
    assert (
        await scoring.http.post(
            "/v1/scoring/periods/agent/2026-Q3/close", json={"tenant": d}, headers=auth(d, "agent")
        )
    ).status_code == 403
    closed = await scoring.http.post(
        "/v1/scoring/periods/agent/2026-Q3/close", json={"tenant": d}, headers=auth(d)
    )
    assert closed.status_code == 201, closed.text
    frozen = closed.json()
    assert frozen["entries"] == 3 and frozen["subjects"] == 1

    # the tenant changes its scorecard: performance out of 40, a provincial hard procedure now −5
    card = copy.deepcopy(ANYANG_AGENT_SCORECARD)
    card["dimensions"][1]["max_points"] = "40"
    card["rules"][0]["points"] = "-5"
    r = await registry.http.put(
        f"/v1/rules/{d}",
        json={"document": {"scorecards": {"definitions": [card, UNIT_CARD]}}},
        headers=registry.auth(d, "tenant_admin"),
    )
    assert r.status_code == 201, r.text
    scoring.runtime.ctx.registry.invalidate_rules(d)

    replay = await scoring.http.post(
        "/v1/scoring/periods/agent/2026-Q3/replay", params={"tenant": d}, headers=auth(d, "auditor")
    )
    assert replay.status_code == 200, replay.text
    body = replay.json()
    assert body["identical"] is True and body["differences"] == []
    assert body["replayed_digest"] == body["frozen_digest"] == frozen["digest"]
    assert body["rules_version"] == frozen["rules_version"]

    after = await score(scoring, d, agent)
    assert after["closed"] is True and after["total"] == before["total"] and dims(after) == dims(before)
    clock.set(local(2026, 10, 9, 9))
    # a late event of the closed quarter is kept in the ledger but does not move the frozen score
    [late] = await fact(scoring, d, "attendance.absent", local(2026, 9, 20, 9), agent=agent)
    again = await score(scoring, d, agent)
    assert again["total"] == before["total"]
    assert next(e for e in again["entries"] if e["id"] == late["id"])["after_close"] is True
    # manual entries and corrections into a closed period are refused
    manual = {
        "tenant": d,
        "scorecard": "agent",
        "subject_id": agent,
        "dimension": "overall",
        "points": "-1",
        "reason_zh": "补记",
        "occurred_at": local(2026, 9, 30, 9).isoformat(),
    }
    r = await scoring.http.post("/v1/scoring/entries", json=manual, headers=auth(d, "supervisor"))
    assert r.status_code == 409 and r.json()["error"]["code"] == "period_closed"
    # the new rules apply to new events: Q4 under the changed card
    [q4] = await fact(
        scoring,
        d,
        "procedure.incomplete_at_period_end",
        local(2026, 10, 2, 9),
        agent=agent,
        key_level="provincial",
        difficulty="hard",
    )
    assert Decimal(q4["points"]) == Decimal(-5)
    q4_score = await score(scoring, d, agent, period="2026-Q4")
    assert dims(q4_score)["performance"] == Decimal(35)
    replay2 = await scoring.http.post(
        "/v1/scoring/periods/agent/2026-Q3/replay", params={"tenant": d}, headers=auth(d)
    )
    assert replay2.json()["identical"] is True
