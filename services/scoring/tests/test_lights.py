"""Project warning lights (红黄绿灯): computed from the tenant's rules, every change recorded with its
reasons, a red project turns yellow only after it caught up, project.light_changed; the four rates."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import grpc
import sqlalchemy as sa

from steward.api.scoring.v1 import scoring_pb2 as pb
from steward.api.scoring.v1 import scoring_pb2_grpc as pb_grpc
from steward.registry.testing import Tree
from steward.scoring.testing import Scoring, auth, cloud_event, local, publish, token, wait_for


async def test_red_turns_yellow_only_after_catching_up(
    scoring: Scoring, tree: Tree, nats_url: str, clock: Any
) -> None:
    d = tree.districts[0]
    clock.set(local(2026, 7, 1, 10))
    pid = f"p-{uuid.uuid4().hex[:8]}"
    seen: list[str] = []

    async def send(short: str, **data: Any) -> None:
        event = cloud_event(
            short,
            d,
            {"project_id": pid, "code": "2026-001", **data},
            at=local(2026, 7, 1, 10),
            source="/steward/registry",
        )
        await publish(nats_url, event)
        seen.append(event["id"])

        async def handled() -> Any:
            async with scoring.db.read() as session:
                return (
                    await session.execute(
                        sa.text("SELECT 1 FROM steward_inbox WHERE event_id = CAST(:e AS uuid)"),
                        {"e": event["id"]},
                    )
                ).scalar()

        await wait_for(handled)

    async def light() -> dict[str, Any]:
        r = await scoring.http.get(f"/v1/scoring/lights/{pid}", headers=auth(d))
        assert r.status_code == 200, r.text
        return r.json()

    await send(
        "project.registered",
        name="新材料产业园",
        stage="continuing",
        owner_unit_id=None,
        total_investment="50000000.00",
        funding_type="enterprise",
        key_level="city",
        tier="district",
        on_platform=True,
        steward_required=True,
        named_responsibility=False,
    )
    assert (await light())["light"] == "green"
    r = await scoring.http.put(
        f"/v1/scoring/lights/{pid}/plan",
        json={"annual_plan": "1200万", "planned_start": "2026-03-01"},
        headers=auth(d),
    )
    assert r.status_code == 200, r.text
    assert r.json()["light"] == "red" and "投资完成严重滞后于序时进度（0%）" in r.json()["reasons"]
    await send("milestone.delayed", milestone_id="ms1", name="主体封顶", planned_date="2026-06-30")
    await send("milestone.delayed", milestone_id="ms2", name="设备安装", planned_date="2026-06-30")
    # investment catches up, but two milestones are still late: one input improving keeps it red
    await send(
        "report.submitted",
        report_id="r1",
        schedule_key="monthly",
        period="2026-06",
        due_at=local(2026, 6, 25).isoformat(),
        submitted_at=local(2026, 6, 24).isoformat(),
        late=False,
        investment_period="6000000",
        investment_cumulative="6000000",
    )
    assert (await light())["light"] == "red"
    await send(
        "milestone.reached",
        milestone_id="ms1",
        name="主体封顶",
        planned_date="2026-06-30",
        actual_date="2026-07-01",
        days_late=1,
    )
    body = await light()
    assert body["light"] == "red" and "红灯项目须全部追上进度后方可转黄" in body["reasons"]
    await send(
        "milestone.reached",
        milestone_id="ms2",
        name="设备安装",
        planned_date="2026-06-30",
        actual_date="2026-07-01",
        days_late=1,
    )
    assert (await light())["light"] == "yellow"  # caught up: red → yellow first
    await send(
        "report.submitted",
        report_id="r2",
        schedule_key="monthly",
        period="2026-07",
        due_at=local(2026, 7, 25).isoformat(),
        submitted_at=local(2026, 7, 24).isoformat(),
        late=False,
        investment_period="1000000",
        investment_cumulative="7000000",
    )
    body = await light()
    assert body["light"] == "green"
    assert [(h["from_light"], h["to_light"]) for h in body["history"]] == [
        ("green", "red"),
        ("red", "yellow"),
        ("yellow", "green"),
    ]
    async with scoring.db.read() as session:
        changes = (
            await session.execute(
                sa.text(
                    "SELECT count(*) FROM steward_outbox WHERE type = 'steward.project.light_changed.v1' "
                    "AND payload->>'subject' = :p"
                ),
                {"p": pid},
            )
        ).scalar_one()
    assert changes == 3

    sibling = await scoring.http.get(f"/v1/scoring/lights/{pid}", headers=auth(tree.districts[1]))
    assert sibling.status_code == 404
    async with grpc.aio.insecure_channel(scoring.grpc_target) as channel:
        got = await pb_grpc.ScoringServiceStub(channel).GetLight(
            pb.GetLightRequest(project_id=pid),
            metadata=(("authorization", f"Bearer {token(d)}"),),
            timeout=10,
        )
        assert got.light == "green"

    rates = await scoring.http.get(
        "/v1/scoring/lights/rates", params={"tenant": d, "year": 2026}, headers=auth(d)
    )
    assert rates.status_code == 200, rates.text
    body = rates.json()
    assert body["counts"]["green"] >= 1 and Decimal(body["start_rate"]) == Decimal(1)
    assert body["funds_rate"] is None


async def test_a_registration_carrying_its_plan_lights_the_project_without_asking_the_registry(
    scoring: Scoring, tree: Tree, clock: Any
) -> None:
    """The ``project.registered`` event carries the plan figures and dates a light starts from: no
    registry call per new project (a bulk import of thousands would make thousands)."""
    from steward.events.envelope import CloudEvent
    from steward.scoring.subscribers import EventConsumer

    d = tree.districts[0]
    clock.set(local(2026, 7, 1, 10))
    pid = f"p-{uuid.uuid4().hex[:8]}"  # unknown to the registry: asking it would find nothing
    ctx = scoring.runtime.ctx
    asked: list[str] = []
    real_project = ctx.registry.project

    async def project(id_or_code: str, **kw: Any) -> Any:
        asked.append(id_or_code)
        return await real_project(id_or_code, **kw)

    ctx.registry.project = project  # type: ignore[method-assign]
    try:
        event = cloud_event(
            "project.registered",
            d,
            {
                "project_id": pid,
                "code": "2026-101",
                "name": "新能源装备产业园",
                "stage": "continuing",
                "owner_unit_id": None,
                "total_investment": "50000000.00",
                "funding_type": "enterprise",
                "key_level": "city",
                "tier": "district",
                "on_platform": True,
                "steward_required": True,
                "named_responsibility": False,
                "planned_start": "2026-03-01",
                "planned_completion": None,
                "annual_plan_investment": "12000000.00",
            },
            at=local(2026, 7, 1, 10),
            source="/steward/registry",
        )
        await EventConsumer(ctx).handle(CloudEvent.model_validate(event))
    finally:
        ctx.registry.project = real_project  # type: ignore[method-assign]
    assert asked == []
    r = await scoring.http.get(f"/v1/scoring/lights/{pid}", headers=auth(d))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["light"] == "red" and "投资完成严重滞后于序时进度（0%）" in body["reasons"]
