"""Scores written in a fixed number of round trips (docs/architecture.md §2, ``steward.kit.writes``
with conditional parts): an event the consumer scores, a fact, a manual entry — the entries, their
audit entries and events in one statement, each written only if new. Repeats write nothing and say
so, as before. Called in the test's own task so that only their round trips are counted."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from steward.events.envelope import CloudEvent
from steward.kit.auth import Principal, Role
from steward.kit.testing import Begins, RoundTrips
from steward.registry.testing import Tree
from steward.scoring.ledger import views as ledger_views
from steward.scoring.ledger.schemas import ManualEntryIn
from steward.scoring.rules import views as rules_views
from steward.scoring.rules.schemas import FactIn
from steward.scoring.subscribers import EventConsumer
from steward.scoring.surveys import links
from steward.scoring.surveys import views as survey_views
from steward.scoring.surveys.schemas import AnswerIn
from steward.scoring.testing import Scoring, cloud_event, local

ITEMS = ("attitude", "efficiency", "answers", "appearance", "no_fees", "knowledge", "integrity")


async def _rows(scoring: Scoring, source: str) -> tuple[int, list[str], int]:
    """Ledger entries from ``source``, the outbox events about them, audit entries of them."""
    async with scoring.db.read() as s:
        ids = [
            str(i)
            for i in (
                await s.execute(sa.text("SELECT id FROM scoring_entries WHERE source = :s"), {"s": source})
            ).scalars()
        ]
        events = (
            await s.execute(
                sa.text(
                    "SELECT type FROM steward_outbox WHERE payload->'data'->>'entry_id' = ANY(:ids) ORDER BY type"
                ),
                {"ids": ids},
            )
        ).scalars()
        audit = (
            await s.execute(
                sa.text("SELECT count(*) FROM steward_audit WHERE entity_id = ANY(:ids)"), {"ids": ids}
            )
        ).scalar_one()
        return len(ids), list(events), int(audit)


def _event(short: str, tenant: str, data: dict[str, Any]) -> CloudEvent:
    return CloudEvent.model_validate(cloud_event(short, tenant, data, at=local(2026, 8, 3, 9)))


async def test_an_event_naming_its_subject_is_one_statement(scoring: Scoring, tree: Tree, clock: Any) -> None:
    d = tree.districts[0]
    consumer = EventConsumer(scoring.runtime.ctx)
    event = _event("attendance.late", d, {"agent": f"agent-{uuid.uuid4().hex[:6]}"})
    await consumer.handle(_event("attendance.late", d, {"agent": "warm-the-rules-cache"}))
    for _ in range(2):  # the second delivery is a repeat: the same one statement writes nothing
        with RoundTrips(scoring.db) as trips:
            await consumer.handle(event)
        # BEGIN, de-duplication row + entry + event + NOTIFY in one statement, COMMIT
        assert trips.count == 3, trips.sent
        assert "steward_inbox" in trips.sent[1] and "WHERE EXISTS" in trips.sent[1], trips.sent
        assert await _rows(scoring, event.id) == (1, ["steward.score.recorded.v1"], 0)


async def test_an_event_naming_its_subject_is_sent_without_begin(
    scoring: Scoring, tree: Tree, clock: Any
) -> None:
    """Without statement hooks (as in production) that one statement is the transaction: no BEGIN,
    no COMMIT (kit.writes.batched(last=True))."""
    d = tree.districts[0]
    consumer = EventConsumer(scoring.runtime.ctx)
    await consumer.handle(_event("attendance.late", d, {"agent": "warm-the-rules-cache"}))
    event = _event("attendance.late", d, {"agent": f"agent-{uuid.uuid4().hex[:6]}"})
    with Begins() as begun:
        await consumer.handle(event)
        await consumer.handle(event)  # a repeat writes nothing
    assert begun.sent == []
    assert await _rows(scoring, event.id) == (1, ["steward.score.recorded.v1"], 0)


async def test_an_event_teaching_who_handles_a_matter_keeps_its_order(
    scoring: Scoring, tree: Tree, clock: Any
) -> None:
    d = tree.districts[0]
    consumer = EventConsumer(scoring.runtime.ctx)
    data = {"matter_id": f"m-{uuid.uuid4().hex[:8]}", "responsible_person": "agent-li", "kind": "procedure"}
    event = _event("matter.rated", d, {**data, "rating": 2})
    await consumer.handle(_event("attendance.late", d, {"agent": "warm-the-rules-cache"}))
    with RoundTrips(scoring.db) as trips:
        await consumer.handle(event)
    # BEGIN, de-duplication row, who handles the matter (upsert), entry + event + NOTIFY, COMMIT
    assert trips.count == 5, trips.sent
    assert await _rows(scoring, event.id) == (1, ["steward.score.recorded.v1"], 0)
    with RoundTrips(scoring.db) as trips:
        await consumer.handle(event)
    assert trips.count == 3, trips.sent  # a repeat: BEGIN, the de-duplication row (nothing new), COMMIT
    assert await _rows(scoring, event.id) == (1, ["steward.score.recorded.v1"], 0)


async def test_an_event_naming_a_project_that_moves_no_light_takes_no_lock(
    scoring: Scoring, tree: Tree, clock: Any
) -> None:
    """An event that a rule scores and that names its project, but moves no light: no ``SELECT … FOR
    UPDATE`` of the project's light (every filing of a busy project queued on that one lock)."""
    d = tree.districts[0]
    consumer = EventConsumer(scoring.runtime.ctx)
    await consumer.handle(_event("attendance.late", d, {"agent": "warm-the-rules-cache"}))
    event = _event("matter.rated", d, {"project_id": str(uuid.uuid4()), "rating": 2})
    with RoundTrips(scoring.db) as trips:
        await consumer.handle(event)
    assert trips.count == 3, trips.sent  # BEGIN, the de-duplication row (with any entries), COMMIT
    assert not any("FOR UPDATE" in sql for sql in trips.sent), trips.sent


async def test_an_event_nothing_could_score_is_not_written_at_all(
    scoring: Scoring, tree: Tree, clock: Any
) -> None:
    """No rule, survey or light names the type and it names no matter's people (a comment, notify's
    ``delivery.*`` after every message): no transaction, no de-duplication row."""
    d = tree.districts[0]
    consumer = EventConsumer(scoring.runtime.ctx)
    await consumer.handle(_event("attendance.late", d, {"agent": "warm-the-rules-cache"}))
    events = [
        _event("matter.commented", d, {"project_id": str(uuid.uuid4()), "comment_id": "c-1"}),
        _event("delivery.succeeded", d, {"delivery_id": str(uuid.uuid4()), "channel": "inbox"}),
    ]
    for event in events:
        with RoundTrips(scoring.db) as trips:
            await consumer.handle(event)
        assert trips.count == 0, trips.sent
    async with scoring.db.read() as s:
        kept = (
            await s.execute(
                sa.text("SELECT count(*) FROM steward_inbox WHERE event_id = ANY(:ids)"),
                {"ids": [uuid.UUID(e.id) for e in events]},
            )
        ).scalar_one()
    assert kept == 0


async def test_a_fact_is_one_statement(scoring: Scoring, tree: Tree, clock: Any) -> None:
    d = tree.districts[0]
    supervisor = Principal(subject="sup", tenant=d, roles=frozenset({Role.SUPERVISOR}))
    ctx = scoring.runtime.ctx
    agent = f"agent-{uuid.uuid4().hex[:6]}"
    body = FactIn(
        tenant=d, type="attendance.absent", id=agent, occurred_at=local(2026, 8, 1, 9), data={"agent": agent}
    )
    await rules_views.record_fact(ctx, supervisor, body.model_copy(update={"id": f"warm-{agent}"}))
    recorded = []
    for _ in range(2):
        with RoundTrips(scoring.db) as trips:
            out = await rules_views.record_fact(ctx, supervisor, body)
        assert trips.count == 3, trips.sent  # BEGIN, entry + event + NOTIFY, COMMIT
        recorded.append(len(out.recorded))
    assert recorded == [1, 0]  # the same fact id scores once
    assert await _rows(scoring, f"fact:{d}:{agent}") == (1, ["steward.score.recorded.v1"], 0)


async def test_a_manual_entry_is_four_round_trips(scoring: Scoring, tree: Tree, clock: Any) -> None:
    d = tree.districts[0]
    clock.set(local(2026, 8, 10, 9))
    evaluator = Principal(subject="eval", tenant=d, roles=frozenset({Role.SUPERVISOR}))
    ctx = scoring.runtime.ctx
    key = uuid.uuid4().hex[:12]
    body = ManualEntryIn(
        tenant=d,
        scorecard="agent",
        subject_id="agent-zhao",
        dimension="integrity",
        points=Decimal("-1"),
        reason_zh="廉政谈话",
        key=key,
    )
    ids = []
    for expected in (4, 5):  # the same key again: the first entry, read back (no audit, no event)
        with RoundTrips(scoring.db) as trips:
            out = await ledger_views.manual_entry(ctx, evaluator, body)
        # BEGIN, closed period?, entry + audit + event + NOTIFY [, the earlier entry], COMMIT
        assert trips.count == expected, trips.sent
        ids.append(out.id)
    assert ids[0] == ids[1]
    assert await _rows(scoring, f"eval:{key}") == (1, ["steward.score.recorded.v1"], 1)


async def test_a_survey_answer_is_one_statement_after_its_reads(
    scoring: Scoring, tree: Tree, clock: Any
) -> None:
    d = tree.districts[0]
    consumer = EventConsumer(scoring.runtime.ctx)
    agent = f"agent-{uuid.uuid4().hex[:6]}"
    answered = []
    for n in range(2):  # the second "very dissatisfied" in a row: consequences and a rectification
        handover = _event(
            "procedure.handed_over",
            d,
            {"file_id": f"file-{agent}-{n}", "level1_agent": agent, "received_by": "企业联系人张三"},
        )
        with RoundTrips(scoring.db) as trips:
            await consumer.handle(handover)
        assert trips.count == 3, trips.sent  # BEGIN, de-duplication row + survey + event, COMMIT
        async with scoring.db.read() as s:
            survey_id = (
                await s.execute(
                    sa.text("SELECT id FROM scoring_surveys WHERE source_event = :e"), {"e": handover.id}
                )
            ).scalar_one()
        token = links.sign(scoring.runtime.ctx.settings, survey_id)
        body = AnswerIn(answers=dict.fromkeys(ITEMS, "very_dissatisfied"), comment="办事拖拉")
        clock.set(local(2026, 8, 12 + n, 9))
        with RoundTrips(scoring.db) as trips:
            out = await survey_views.answer_survey(scoring.runtime.ctx, token, body)
        # the view's read (the survey, outside a transaction); BEGIN, the survey, the answer claimed,
        # the recent results, event + entries + consequences + rectification + timer + NOTIFY in one
        # statement, COMMIT
        assert trips.count == 7, "\n".join(t[:100] for t in trips.sent)
        assert out.overall == "very_dissatisfied" and out.answered_at == local(2026, 8, 12 + n, 9)
        answered.append(out.id)
    async with scoring.db.read() as s:
        consequences = (
            await s.execute(
                sa.text("SELECT action FROM scoring_consequences WHERE subject_id = :a ORDER BY action"),
                {"a": agent},
            )
        ).scalars()
        rectifications = (
            await s.execute(
                sa.text("SELECT count(*) FROM scoring_rectifications WHERE subject_id = :a"), {"a": agent}
            )
        ).scalar_one()
        assert list(consequences) and rectifications == 2
