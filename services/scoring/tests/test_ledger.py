"""The agent scorecard worked example (seed 004, 考核办法), 扣完为止, arrival order, corrections and
manual entries — with exact Decimals, through the REST API and the ledger in PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from steward.registry.testing import Tree
from steward.rules.scoring import ScorecardDef
from steward.rules.scoring_presets import ANYANG_AGENT_SCORECARD
from steward.scoring.ledger.compute import EntryLike, compute
from steward.scoring.ledger.totals import subject_totals
from steward.scoring.testing import Scoring, auth, local

from .helpers import dims, fact, score


async def test_worked_example_performance_and_discipline_floor(
    scoring: Scoring, tree: Tree, clock: Any
) -> None:
    d = tree.districts[0]
    agent = "agent-wang"
    # 省重点项目难度大的审批手续未完成 ×3 (−0.5 each)
    for day in (1, 2, 3):
        await fact(
            scoring,
            d,
            "procedure.incomplete_at_period_end",
            local(2026, 7, day, 9),
            agent=agent,
            key_level="provincial",
            difficulty="hard",
        )
    # the matter's agent is learnt from matter.assigned; matter.rated then names no person
    await fact(
        scoring,
        d,
        "matter.assigned",
        local(2026, 7, 4, 9),
        matter_id="m-1",
        kind="procedure",
        responsible_person=agent,
    )
    for day in (5, 6):  # 服务企业对办理结果不满意 ×2 (−1 each)
        await fact(
            scoring, d, "matter.rated", local(2026, 7, day, 9), matter_id="m-1", kind="procedure", rating=2
        )
    # 协助其他同志办结 (+0.2)
    await fact(scoring, d, "procedure.assisted_completed", local(2026, 7, 7, 9), agent=agent)
    # 工作纪律: 19 absences (−1), 3 late (−0.2), one more absence asks −1 but only 0.4 is left, then nothing
    for i in range(19):
        await fact(scoring, d, "attendance.absent", local(2026, 8, 1, 8, i), agent=agent)
    for i in range(3):
        await fact(scoring, d, "attendance.late", local(2026, 8, 2, 8, i), agent=agent)
    last = await fact(scoring, d, "attendance.absent", local(2026, 8, 3, 8), agent=agent)
    more = await fact(scoring, d, "attendance.late", local(2026, 8, 4, 8), agent=agent)
    assert [e["points"] for e in last] == ["-1"] and [e["points"] for e in more] == ["-0.2"]

    body = await score(scoring, d, agent)
    assert dims(body) == {
        "politics": Decimal(10),
        "performance": Decimal("26.7"),  # 30 − 3×0.5 − 2×1 + 0.2
        "discipline": Decimal(0),  # 扣完为止
        "democratic": Decimal(20),
        "integrity": Decimal(10),
        "overall": Decimal(10),
    }
    assert Decimal(body["total"]) == Decimal("76.7") and Decimal(body["max_total"]) == Decimal(100)
    by_id = {e["id"]: e for e in body["entries"]}
    floor = by_id[last[0]["id"]]
    assert (Decimal(floor["points"]), Decimal(floor["applied"]), Decimal(floor["value_after"])) == (
        Decimal(-1),
        Decimal("-0.4"),
        Decimal(0),
    )
    assert floor["note"] == "扣完为止（已到0分）"
    assert Decimal(by_id[more[0]["id"]]["applied"]) == 0
    perf = [e for e in body["entries"] if e["dimension"] == "performance"]
    assert [(e["rule"], e["points"]) for e in perf] == [
        ("prov_hard_incomplete", "-0.50"),
        ("prov_hard_incomplete", "-0.50"),
        ("prov_hard_incomplete", "-0.50"),
        ("enterprise_dissatisfied", "-1.00"),
        ("enterprise_dissatisfied", "-1.00"),
        ("helped_colleague", "0.20"),
    ]


def test_bonus_at_full_marks_is_capped() -> None:
    card = ScorecardDef.model_validate(ANYANG_AGENT_SCORECARD)
    import uuid

    bonus = EntryLike(
        uuid.uuid4(), "performance", Decimal("0.2"), local(2026, 7, 1), "e1", "helped_colleague"
    )
    minus = EntryLike(uuid.uuid4(), "performance", Decimal("-1"), local(2026, 7, 2), "e2", "task_overdue")
    result = compute(card, [minus, bonus])  # bonus first in event time: already at 30, nothing to add
    assert result.dimensions["performance"] == Decimal(29)
    assert [(a.asked, a.applied) for a in result.applied] == [
        (Decimal("0.2"), Decimal(0)),
        (Decimal(-1), Decimal(-1)),
    ]


async def test_three_arrival_orders_give_identical_scores(scoring: Scoring, tree: Tree, clock: Any) -> None:
    d = tree.districts[1]
    events = [
        ("attendance.absent", local(2026, 8, 1, 9), {}),
        ("attendance.late", local(2026, 8, 2, 9), {}),
        ("procedure.assisted_completed", local(2026, 8, 3, 9), {}),
        (
            "procedure.incomplete_at_period_end",
            local(2026, 8, 4, 9),
            {"key_level": "city", "difficulty": "easy"},
        ),
        ("procedure.assisted_completed", local(2026, 8, 5, 9), {}),
        ("integrity.bribe", local(2026, 8, 6, 9), {}),
        ("integrity.favouritism", local(2026, 8, 6, 9), {}),
    ]
    orders = [list(range(len(events))), list(reversed(range(len(events)))), [3, 0, 6, 2, 5, 1, 4]]
    results = []
    for n, order in enumerate(orders):
        agent = f"agent-order-{n}"
        for i in order:
            type_, at, data = events[i]
            # the same event (same id) for each subject, arriving in a different order each time
            await fact(scoring, d, type_, at, fact_id=f"order-{i}", agent=agent, **data)
        body = await score(scoring, d, agent)
        results.append((dims(body), body["total"], [(e["rule"], e["applied"]) for e in body["entries"]]))
    assert results[0] == results[1] == results[2]
    assert results[0][0]["integrity"] == Decimal(0)  # −10 then −2 at the same time: 扣完为止
    assert results[0][0]["performance"] == Decimal("29.7")  # +0.2 capped, −0.5, +0.2
    # the database computes the same, set-based
    card = ScorecardDef.model_validate(ANYANG_AGENT_SCORECARD)
    async with scoring.db.read() as session:
        path = (
            await session.execute(
                sa.text("SELECT tenant_path FROM scoring_entries WHERE tenant = :t LIMIT 1"), {"t": d}
            )
        ).scalar_one()
        totals = await subject_totals(session, card=card, path=path, period="2026-Q3")
    for n in range(3):
        assert totals[f"agent-order-{n}"] == results[0][0]


async def test_corrections_and_manual_entries(scoring: Scoring, tree: Tree, clock: Any) -> None:
    d = tree.districts[2]
    agent = "agent-li"
    [entry] = await fact(scoring, d, "integrity.environment_violation", local(2026, 9, 1, 9), agent=agent)
    # an agent may not correct; a supervisor of a sibling district may not either
    r = await scoring.http.post(
        f"/v1/scoring/entries/{entry['id']}/corrections",
        json={"reason_zh": "查证不实"},
        headers=auth(d, "agent"),
    )
    assert r.status_code == 403
    r = await scoring.http.post(
        f"/v1/scoring/entries/{entry['id']}/corrections",
        json={"reason_zh": "查证不实"},
        headers=auth(tree.districts[0], "supervisor"),
    )
    assert r.status_code == 403
    r = await scoring.http.post(
        f"/v1/scoring/entries/{entry['id']}/corrections",
        json={"reason_zh": "查证不实"},
        headers=auth(d, "supervisor"),
    )
    assert r.status_code == 201, r.text
    correction = r.json()
    assert correction["corrects"] == entry["id"] and Decimal(correction["points"]) == Decimal(5)
    again = await scoring.http.post(
        f"/v1/scoring/entries/{entry['id']}/corrections",
        json={"reason_zh": "重复"},
        headers=auth(d, "supervisor"),
    )
    assert again.status_code == 409
    # 综合评价 has no event: a leader enters it by hand, with a reason; the same key records once
    manual = {
        "tenant": d,
        "scorecard": "agent",
        "subject_id": agent,
        "dimension": "overall",
        "points": "-2",
        "reason_zh": "领导决定事项未严格执行",
        "occurred_at": local(2026, 9, 2, 9).isoformat(),
        "key": "k1",
    }
    r1 = await scoring.http.post("/v1/scoring/entries", json=manual, headers=auth(d, "leader"))
    r2 = await scoring.http.post("/v1/scoring/entries", json=manual, headers=auth(d, "leader"))
    assert r1.status_code == r2.status_code == 201 and r1.json()["id"] == r2.json()["id"]
    assert (
        await scoring.http.post("/v1/scoring/entries", json=manual, headers=auth(d, "agent"))
    ).status_code == 403
    body = await score(scoring, d, agent)
    assert dims(body)["integrity"] == Decimal(10) and dims(body)["overall"] == Decimal(8)
    notes = {e["rule"]: (e["applied"], e["note"]) for e in body["entries"]}
    assert notes["environment_violation"] == ("0", "已更正冲销") and notes["correction"] == (
        "0",
        "更正：冲销原分录",
    )
    # nothing is edited or deleted: the database refuses it
    async with scoring.db.transaction() as session:
        try:
            await session.execute(sa.text("DELETE FROM scoring_entries WHERE subject_id = :s"), {"s": agent})
        except sa.exc.DBAPIError as exc:
            assert "append-only" in str(exc)
        else:
            raise AssertionError("the ledger accepted a DELETE")


async def test_preview_export_and_scorecards(scoring: Scoring, tree: Tree, clock: Any) -> None:
    d = tree.districts[0]
    r = await scoring.http.post(
        "/v1/scoring/rules/preview",
        json={
            "tenant": d,
            "type": "procedure.completed",
            "data": {"overdue": True, "delay_attributed_to": "a2"},
        },
        headers=auth(d, "auditor"),
    )
    assert r.status_code == 200, r.text
    assert [(m["rule"], m["subject"], m["points"]) for m in r.json()["matches"]] == [
        ("level2_delay", "a2", "-1")
    ]
    cards = await scoring.http.get("/v1/scoring/scorecards", params={"tenant": d}, headers=auth(d))
    assert [c["key"] for c in cards.json()["definitions"]] == ["agent", "unit"]
    await fact(scoring, d, "attendance.late", local(2026, 8, 9, 9), agent="agent-export")
    csv = await scoring.http.get(
        "/v1/scoring/ledger/export",
        params={"scorecard": "agent", "period": "2026-Q3", "tenant": d, "format": "csv"},
        headers=auth(d),
    )
    assert csv.status_code == 200 and "agent-export" in csv.text and "无故迟到、早退" in csv.text
    xlsx = await scoring.http.get(
        "/v1/scoring/ledger/export",
        params={"scorecard": "agent", "period": "2026-Q3", "tenant": d, "format": "xlsx"},
        headers=auth(d),
    )
    assert xlsx.status_code == 200, xlsx.text
    # the document lists the content types the export really answers, and no JSON body
    documented = (await scoring.http.get("/openapi.json")).json()["paths"]
    for path in ("/v1/scoring/ledger/export", "/v1/scoring/rankings/{ranking}/{period}/export"):
        assert set(documented[path]["get"]["responses"]["200"]["content"]) == {
            "text/csv",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    for response in (csv, xlsx):
        media = response.headers["content-type"].split(";")[0]
        assert media in documented["/v1/scoring/ledger/export"]["get"]["responses"]["200"]["content"]
    sibling = await scoring.http.get(
        "/v1/scoring/ledger/export",
        params={"scorecard": "agent", "period": "2026-Q3", "tenant": d, "format": "csv"},
        headers=auth(tree.districts[1]),
    )
    assert sibling.status_code == 404


async def test_batch_scoring_matches_one_by_one_and_is_idempotent(scoring: Scoring, tree: Tree) -> None:
    from steward.events.envelope import CloudEvent
    from steward.rules import RulesDocument
    from steward.scoring.rules.engine import score_event, score_events

    from .helpers import RULES

    rules = RulesDocument.model_validate(RULES)
    path = f"{tree.city}/{tree.districts[1]}"

    def events(agent: str) -> list[CloudEvent]:
        kinds = ["attendance.absent"] * 25 + ["procedure.assisted_completed", "integrity.bribe"]
        return [
            CloudEvent(
                id=f"batch-{i}",
                source="/t",
                type=f"steward.{k}.v1",
                time=local(2026, 8, 1 + i, 9),
                tenant=tree.districts[1],
                data={"agent": agent},
            )
            for i, k in enumerate(kinds)
        ]

    async with scoring.db.transaction() as s:
        first = await score_events(
            s, events=events("agent-batch"), rules=rules, path=path, now=local(2026, 9, 1)
        )
        again = await score_events(
            s, events=events("agent-batch"), rules=rules, path=path, now=local(2026, 9, 1)
        )
        for e in events("agent-single"):
            await score_event(s, event=e, rules=rules, path=path, now=local(2026, 9, 1))
    assert len(first) == 27 and again == []
    batch, single = (
        await score(scoring, tree.districts[1], "agent-batch"),
        await score(scoring, tree.districts[1], "agent-single"),
    )
    assert dims(batch) == dims(single) and dims(batch)["discipline"] == 0 and dims(batch)["integrity"] == 0
    assert Decimal(batch["total"]) == Decimal(single["total"]) == Decimal(70)
