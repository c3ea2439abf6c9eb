"""The agents' weekly report pre-fills the agent's matters of the week from the issues service (real
issues replica over gRPC, kit IssuesClient.matters_of_person): those the agent filed or is
responsible for, active during the week — filed before its end, not resolved or closed before its
start. Without an issues service, or with one that is down, the draft still answers and says so."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest

from steward.devtools.infra import free_port
from steward.issues.testing import Issues, local, running_issues
from steward.issues.testing import migrate as migrate_issues
from steward.kit.clients.issues import IssuesClient
from steward.kit.clock import Clock
from steward.kit.errors import ValidationFailed
from steward.registry.reports.testing import staffed_project
from steward.registry.settings import RegistrySettings
from steward.registry.testing import SECRET, Registry, make_tree, running_registry
from steward.rules import preset_override

AGENT_WEEKLY = {
    "key": "agent_weekly_work",
    "name_zh": "代办员周工作报告",
    "kind": "weekly",
    "weekday": 3,
    "due_time": "17:00",
    "holiday_shift": "earlier",
}


def obstacle(project_id: str, title: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "obstacle",
        "project_id": project_id,
        "title": title,
        "category": "utilities",
        "sub_item": "power",
        "tier": "unit",
        **extra,
    }


async def _file(issues: Issues, at: datetime, body: dict[str, Any], headers: dict[str, str]) -> str:
    issues.clock.set(at)
    r = await issues.http.post("/v1/matters", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return str(r.json()["number"])


async def _resolve(
    issues: Issues, number: str, headers: dict[str, str], unit_headers: dict[str, str]
) -> None:
    unit = "22222222-2222-2222-2222-222222222222"
    steps = [
        (
            f"/v1/matters/{number}/accept",
            {"responsible_unit_id": unit, "responsible_unit_name": "供电公司"},
            headers,
        ),
        (f"/v1/matters/{number}/start", {}, unit_headers),
        (f"/v1/matters/{number}/resolve", {"text": "已接入"}, unit_headers),
    ]
    for url, body, h in steps:
        r = await issues.http.post(url, json=body, headers=h)
        assert r.status_code == 200, (url, r.text)


async def test_draft_and_report_carry_the_agents_matters_of_the_week(
    registry: Registry, registry_db_url: str, nats_url: str, make_database: Any
) -> None:
    rules = preset_override("anyang")
    rules["reports"]["agent_weekly"] = AGENT_WEEKLY
    tree = await make_tree(registry, rules={"d0": rules})
    d = tree.districts[0]
    s = await staffed_project(registry, d, roles=["agent"], name="代办事项项目")
    pid, agent_sub, agent_name = s.project["id"], s.subjects["agent"], s.people["agent"]["name"]
    agent = registry.auth(d, "agent", sub=agent_sub)
    disp = registry.auth(d, "dispatcher", sub="dispatcher-1")
    unit_agent = registry.auth(d, "agent", sub="power-1", unit="22222222-2222-2222-2222-222222222222")

    # the suite's registry has no issues service: the draft says the matters are not pre-filled
    r = await registry.http.get("/v1/agent-reports/draft", params={"period": "2026-W47"}, headers=agent)
    assert r.status_code == 200, r.text
    assert r.json()["matters"] == [] and r.json()["matters_status"] == "not_configured"

    issues_db = await asyncio.to_thread(migrate_issues, make_database("agent_matters_issues"))
    async with (
        running_issues(issues_db, nats_url, registry.grpc_target, clock=Clock()) as issues,
        running_registry(registry_db_url, nats_url, issues_grpc_target=issues.grpc_target) as reg,
    ):
        # W47 (Nov 16–22): one filed by the agent and resolved that week, one the agent is responsible for
        filed_resolved = await _file(issues, local(2026, 11, 18, 10), obstacle(pid, "供电接入"), agent)
        await _resolve(issues, filed_resolved, disp, unit_agent)
        responsible = await _file(
            issues, local(2026, 11, 19, 9), obstacle(pid, "用地报批", responsible_person=agent_name), disp
        )
        # W48: someone else's matter; W49 (Nov 30–Dec 6): another the agent filed
        await _file(
            issues, local(2026, 11, 25, 9), obstacle(pid, "别人的事项", responsible_person="张三"), disp
        )
        filed_later = await _file(issues, local(2026, 12, 1, 9), obstacle(pid, "施工许可"), agent)

        async def draft(period: str) -> dict[str, Any]:
            r = await reg.http.get("/v1/agent-reports/draft", params={"period": period}, headers=agent)
            assert r.status_code == 200, r.text
            assert r.json()["matters_status"] == "ok"
            return dict(r.json())

        w47 = await draft("2026-W47")
        assert [(m["number"], m["as"], m["status"]) for m in w47["matters"]] == [
            (filed_resolved, ["reporter"], "resolved"),
            (responsible, ["responsible"], "filed"),
        ]
        assert w47["matters"][0]["resolved_at"] is not None and w47["matters"][0]["project_id"] == pid
        assert [m["number"] for m in (await draft("2026-W48"))["matters"]] == [responsible]
        assert [m["number"] for m in (await draft("2026-W49"))["matters"]] == [responsible, filed_later]
        assert (await draft("2026-W46"))["matters"] == []
        # a supervisor asks for the agent's draft with their own token (their scope applies)
        r = await reg.http.get(
            "/v1/agent-reports/draft",
            params={"period": "2026-W47", "person_id": s.people["agent"]["id"]},
            headers=registry.auth(tree.city, "dispatcher"),
        )
        assert [m["number"] for m in r.json()["matters"]] == [filed_resolved, responsible]

        # the submitted report keeps the matters as they stood
        r = await reg.http.post(
            "/v1/agent-reports",
            json={"period": "2026-W48", "progress_text": "推进用地报批"},
            headers=agent,
        )
        assert r.status_code == 201, r.text
        assert [(m["number"], m["title"]) for m in r.json()["matters"]] == [(responsible, "用地报批")]

        # the RPC itself: scope, validation
        client = IssuesClient(RegistrySettings(jwt_dev_secret=SECRET), issues.grpc_target)
        try:
            week = (local(2026, 11, 16), local(2026, 11, 23))
            mine = await client.matters_of_person(
                since=week[0],
                until=week[1],
                subject=agent_sub,
                names=[agent_name],
                token=agent["Authorization"][7:],
            )
            assert [m.number for m in mine.matters] == [filed_resolved, responsible] and not mine.truncated
            one = await client.matters_of_person(
                since=week[0], until=week[1], subject=agent_sub, limit=1, token=agent["Authorization"][7:]
            )
            assert [m.number for m in one.matters] == [filed_resolved] and one.truncated is False
            capped = await client.matters_of_person(
                since=week[0], until=week[1], subject=agent_sub, names=[agent_name], limit=1
            )
            assert len(capped.matters) == 1 and capped.truncated is True  # the service token sees all
            elsewhere = registry.token(tree.districts[1], "agent", sub=agent_sub)
            none = await client.matters_of_person(
                since=week[0], until=week[1], subject=agent_sub, names=[agent_name], token=elsewhere
            )
            assert list(none.matters) == []
            with pytest.raises(ValidationFailed):
                await client.matters_of_person(since=week[1], until=week[0], subject=agent_sub)
            with pytest.raises(ValidationFailed):
                await client.matters_of_person(since=week[0], until=week[1])
        finally:
            await client.close()

    # an issues service that does not answer: the draft still comes, saying the matters are unavailable
    async with running_registry(
        registry_db_url,
        nats_url,
        issues_grpc_target=f"127.0.0.1:{free_port()}",
        grpc_call_timeout_seconds=0.5,
    ) as down:
        r = await down.http.get("/v1/agent-reports/draft", params={"period": "2026-W47"}, headers=agent)
        assert r.status_code == 200, r.text
        assert r.json()["matters_status"] == "unavailable" and r.json()["projects"]
