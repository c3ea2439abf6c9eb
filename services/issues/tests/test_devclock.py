"""The dev platform clock moves the issues service too: the registry announces the move, the issues
runtime follows it, and a matter filed now becomes overdue and escalates within seconds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from steward.issues.testing import Issues, auth, running_issues, wait_for
from steward.kit.clock import Clock
from steward.registry.testing import Registry, Tree, create_project


@pytest.fixture
async def platform_clock(
    registry: Registry, issues: Issues, clock: Clock, tree: Tree
) -> AsyncIterator[dict[str, str]]:
    admin = registry.auth(tree.city, "platform_admin", sub="clock-admin")
    yield admin
    r = await registry.http.post("/v1/dev/clock", json={"reset": True}, headers=admin)
    assert r.status_code == 200, r.text
    await wait_for(lambda: _offset_is(issues, timedelta(0)))


async def _offset_is(issues: Issues, offset: timedelta) -> bool:
    return issues.clock.offset == offset


async def _matter(issues: Issues, key: str, tenant: str) -> dict[str, Any]:
    return (await issues.http.get(f"/v1/matters/{key}", headers=auth(tenant, "dispatcher"))).json()


async def test_moving_the_platform_clock_makes_a_matter_overdue_and_escalate(
    issues: Issues,
    registry: Registry,
    tree: Tree,
    platform_clock: dict[str, str],
    issues_db_url: str,
    nats_url: str,
) -> None:
    t = tree.township
    p = (await create_project(registry, t, total_investment="800万")).json()
    body = {
        "kind": "obstacle",
        "project_id": p["id"],
        "title": "临时用电迟迟未接",
        "category": "utilities",
        "sub_item": "power",
        "tier": "unit",
    }
    m = (await issues.http.post("/v1/matters", json=body, headers=auth(t, "specialist"))).json()
    assert m["tier"] == "unit" and m["overdue"] is False and m["escalations"] == 0, m

    r = await registry.http.post("/v1/dev/clock", json={"advance": "+30d"}, headers=platform_clock)
    assert r.status_code == 200, r.text
    await wait_for(lambda: _offset_is(issues, timedelta(days=30)))  # followed through the event

    async def escalated() -> dict[str, Any] | None:
        got = await _matter(issues, m["id"], t)
        return got if got["escalations"] >= 1 else None

    got = await wait_for(escalated)
    assert got["tier"] == "district" and got["handling_tenant"] == tree.districts[2]
    history = (await issues.http.get(f"/v1/matters/{m['id']}/timeline", headers=auth(t, "dispatcher"))).json()
    actions = [h["action"] for h in history["items"]]
    assert "overdue" in actions and "escalated" in actions

    # a replica started after the move catches up from the stream before it serves
    async with running_issues(issues_db_url, nats_url, registry.grpc_target, clock=Clock()) as late:
        assert late.clock.offset == timedelta(days=30)
