"""Surveys: sent on handover (a real event over NATS), a link answers once, the second "very
dissatisfied" in a row triggers the admonition and written self-criticism, bad results open a
rectification closed only after a call-back."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from steward.registry.testing import Tree
from steward.scoring.surveys import links
from steward.scoring.testing import Scoring, auth, cloud_event, local, publish, wait_for

from .helpers import dims, score

ITEMS = ("attitude", "efficiency", "answers", "appearance", "no_fees", "knowledge", "integrity")


async def _handover(scoring: Scoring, nats_url: str, d: str, agent: str, n: int) -> str:
    event = cloud_event(
        "procedure.handed_over",
        d,
        {
            "file_id": f"file-{agent}-{n}",
            "project_id": f"p-{agent}",
            "project_code": "2026-210112-01",
            "level": "city",
            "procedures": ["filing"],
            "level1_agent": agent,
            "level2_agents": [],
            "received_by": "企业联系人张三",
        },
        at=local(2026, 8, 10 + n, 10),
    )
    await publish(nats_url, event)

    async def sent() -> Any:
        async with scoring.db.read() as session:
            return (
                await session.execute(
                    sa.text("SELECT id FROM scoring_surveys WHERE source_event = :e"), {"e": event["id"]}
                )
            ).scalar()

    survey_id = await wait_for(sent)
    return links.sign(scoring.runtime.ctx.settings, survey_id)


async def _answer(scoring: Scoring, token: str, level: str) -> Any:
    return await scoring.http.post(
        f"/v1/scoring/surveys/answer/{token}",
        json={"answers": dict.fromkeys(ITEMS, level), "comment": "办事拖拉"},
    )


async def test_survey_answers_once_and_second_very_dissatisfied_admonishes(
    scoring: Scoring, tree: Tree, nats_url: str, clock: Any
) -> None:
    d = tree.districts[2]
    agent = f"agent-{uuid.uuid4().hex[:6]}"
    clock.set(local(2026, 8, 20, 10))
    token = await _handover(scoring, nats_url, d, agent, 1)
    form = await scoring.http.get(f"/v1/scoring/surveys/answer/{token}")
    assert form.status_code == 200 and len(form.json()["items"]) == 7 and len(form.json()["levels"]) == 5
    assert (await scoring.http.get(f"/v1/scoring/surveys/answer/{token[:-2]}xx")).status_code == 404
    first = await _answer(scoring, token, "very_dissatisfied")
    assert first.status_code == 200, first.text and first.json()["overall"] == "very_dissatisfied"
    twice = await _answer(scoring, token, "satisfied")
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_answered"

    async def actions() -> dict[str, int]:
        async with scoring.db.read() as session:
            rows = (
                await session.execute(
                    sa.text(
                        "SELECT action, count(*) FROM scoring_consequences WHERE subject_id = :s GROUP BY action"
                    ),
                    {"s": agent},
                )
            ).all()
        return {a: n for a, n in rows}

    assert await actions() == {"warning": 1}
    token2 = await _handover(scoring, nats_url, d, agent, 2)
    assert (await _answer(scoring, token2, "very_dissatisfied")).status_code == 200
    assert await actions() == {"warning": 1, "admonition": 1, "written_self_criticism": 1}

    # the results fed the agent's 民主评议 dimension (现场打分: 不满意 −1.5 each)
    body = await score(scoring, d, agent)
    assert dims(body)["democratic"] == Decimal(17)

    # each bad result opened a rectification with a working-day deadline; closing needs a call-back
    r = await scoring.http.get(
        "/v1/scoring/rectifications", params={"tenant": d}, headers=auth(d, "supervisor")
    )
    mine = [x for x in r.json() if x["subject_id"] == agent]
    assert len(mine) == 2 and all(x["status"] == "open" for x in mine)
    rect = mine[0]["id"]
    early = await scoring.http.post(
        f"/v1/scoring/rectifications/{rect}/close", json={"reason": "已整改"}, headers=auth(d, "supervisor")
    )
    assert early.status_code == 409 and early.json()["error"]["code"] == "callback_required"
    cb = await scoring.http.post(
        f"/v1/scoring/rectifications/{rect}/callbacks",
        json={"note": "企业表示认可"},
        headers=auth(d, "supervisor"),
    )
    assert cb.status_code == 200, cb.text
    no_reason = await scoring.http.post(
        f"/v1/scoring/rectifications/{rect}/close", json={}, headers=auth(d, "supervisor")
    )
    assert no_reason.status_code == 422
    done = await scoring.http.post(
        f"/v1/scoring/rectifications/{rect}/close",
        json={"reason": "整改到位，回访满意"},
        headers=auth(d, "supervisor"),
    )
    assert done.status_code == 200 and done.json()["status"] == "closed"
    # the other one passes its working-day deadline while open: marked overdue, announced once
    other = mine[1]["id"]
    clock.set(local(2026, 9, 15, 10))

    async def overdue() -> Any:
        async with scoring.db.read() as session:
            return (
                await session.execute(
                    sa.text("SELECT overdue FROM scoring_rectifications WHERE id = CAST(:i AS uuid)"),
                    {"i": other},
                )
            ).scalar()

    assert await wait_for(overdue) is True
    async with scoring.db.read() as session:
        events = (
            await session.execute(
                sa.text(
                    "SELECT count(*) FROM steward_outbox WHERE type = 'steward.rectification.overdue.v1' "
                    "AND payload->>'subject' = :i"
                ),
                {"i": other},
            )
        ).scalar_one()
        closed_timer = (
            await session.execute(sa.text("SELECT count(*) FROM steward_timers WHERE key = :i"), {"i": rect})
        ).scalar_one()
    assert events == 1 and closed_timer == 0
