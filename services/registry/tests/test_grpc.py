"""The registry's gRPC API over a real socket: scope, rosters with contact routes, rules, ancestry."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from steward.api.registry.v1 import registry_pb2 as pb
from steward.api.registry.v1 import registry_pb2_grpc as pb_grpc
from steward.kit.grpc import bearer_metadata, client_channel
from steward.registry.testing import Registry, Tree, create_project


@pytest.fixture
async def stub(registry: Registry) -> AsyncIterator[pb_grpc.RegistryServiceStub]:
    channel = client_channel(registry.grpc_target)
    yield pb_grpc.RegistryServiceStub(channel)
    await channel.close()


def md(reg: Registry, tenant: str, *roles: str, unit: str | None = None) -> tuple[tuple[str, str], ...]:
    return bearer_metadata(reg.token(tenant, *(roles or ("service",)), unit=unit))


async def test_get_and_list_projects_respect_scope(
    registry: Registry, tree: Tree, stub: pb_grpc.RegistryServiceStub
) -> None:
    a, b = tree.districts[0], tree.districts[1]
    p = (await create_project(registry, a, name="gRPC项目", total_investment="2.5亿")).json()
    got = await stub.GetProject(
        pb.GetProjectRequest(id_or_code=p["code"]), metadata=md(registry, a, "dispatcher"), timeout=5
    )
    assert (got.id, got.tier, got.named_responsibility, got.total_investment) == (
        p["id"],
        "city",
        True,
        "250000000.00",
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetProject(
            pb.GetProjectRequest(id_or_code=p["id"]), metadata=md(registry, b, "dispatcher"), timeout=5
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await stub.ListProjects(
        pb.ListProjectsRequest(tenant=tree.city, query="gRPC项目", page_size=10),
        metadata=md(registry, tree.city),
        timeout=5,
    )
    assert [x.id for x in listed.projects] == [p["id"]]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListProjects(pb.ListProjectsRequest(tenant=a), metadata=md(registry, b), timeout=5)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListProjects(pb.ListProjectsRequest(page_size=500), metadata=md(registry, a), timeout=5)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_unauthenticated_calls_are_refused(
    registry: Registry, stub: pb_grpc.RegistryServiceStub
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetTenantAncestry(pb.GetTenantAncestryRequest(tenant="210100"), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetTenantAncestry(
            pb.GetTenantAncestryRequest(tenant="210100"),
            metadata=(("authorization", "Bearer nope"),),
            timeout=5,
        )
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    trailing = dict(err.value.trailing_metadata() or ())
    assert trailing.get("error-code") == "invalid_token"


async def test_roster_with_contact_routes(
    registry: Registry, tree: Tree, stub: pb_grpc.RegistryServiceStub
) -> None:
    d = tree.districts[2]
    admin = registry.auth(d, "tenant_admin")
    person = (
        await registry.http.post(
            "/v1/people",
            json={
                "tenant": d,
                "name": "代办员甲",
                "phone": "13900001111",
                "email": "agent@example.gov.cn",
                "subject": "agent-1",
            },
            headers=admin,
        )
    ).json()
    p = (await create_project(registry, d, total_investment="5000万")).json()
    r = await registry.http.post(
        f"/v1/projects/{p['id']}/roster",
        json={"role_key": "specialist", "person_id": person["id"]},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    roster = await stub.GetRoster(
        pb.GetRosterRequest(project_id=p["id"]), metadata=md(registry, tree.city), timeout=5
    )
    tables: list[str] = []  # what the handler reads (the background loops read other tables)
    domain = {"projects", "tenants", "rules_versions", "roster_assignments", "people", "units"}

    versions_sql: list[str] = []

    handler: list[Any] = []  # the task serving the call: its first statement names the project

    def seen(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        task = asyncio.current_task()
        if not handler and "FROM projects" in statement and p["id"] in str(parameters):
            handler.append(task)
        if not handler or task is not handler[0]:
            return  # another task: the service's background loops read these tables too
        tables.extend(t for t in re.findall(r"\bFROM (\w+)", statement)[:1] if t in domain)
        if "FROM rules_versions" in statement:
            versions_sql.append(statement)

    sa.event.listen(registry.db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        again = await stub.GetRoster(
            pb.GetRosterRequest(project_id=p["id"]), metadata=md(registry, tree.city), timeout=5
        )
    finally:
        sa.event.remove(registry.db.engine.sync_engine, "before_cursor_execute", seen)
    # the project, the rules versions in force (its tenant's path comes with the project), and the
    # assignments with their people and units in one statement (six before: the tenant, people and
    # units each on their own); the caller's tenant is known from the first call
    assert again == roster
    assert tables == [
        "projects",
        "rules_versions",
        "roster_assignments",
    ]
    # the versions in force without their documents: the merged document is cached by their ids
    assert len(versions_sql) == 1 and "document" not in versions_sql[0], versions_sql
    entry = next(e for e in roster.entries if e.role_key == "specialist")
    assert entry.person.name == "代办员甲" and entry.role_name == "项目专员"
    routes = {r.channel: r.address for r in entry.person.routes}
    assert routes == {"inbox": "agent-1", "email": "agent@example.gov.cn", "sms": "13900001111"}
    assert "specialist" not in roster.missing_roles and "manager" in roster.missing_roles
    # the roster carries its project, the same answer GetProject gives (one call for notify), by id
    # and by lifetime code
    alone = await stub.GetProject(
        pb.GetProjectRequest(id_or_code=p["id"]), metadata=md(registry, tree.city), timeout=5
    )
    assert roster.HasField("project") and roster.project == alone
    by_code = await stub.GetRoster(
        pb.GetRosterRequest(project_id=p["code"]), metadata=md(registry, tree.city), timeout=5
    )
    assert by_code.project_id == p["id"] and by_code.project == alone
    masked = await stub.GetRoster(
        pb.GetRosterRequest(project_id=p["id"]), metadata=md(registry, d, "auditor"), timeout=5
    )
    sms = next(r.address for e in masked.entries for r in e.person.routes if r.channel == "sms")
    assert sms == "139****1111"


async def test_effective_rules_and_ancestry(
    registry: Registry, tree: Tree, stub: pb_grpc.RegistryServiceStub
) -> None:
    r = await registry.http.put(
        f"/v1/rules/{tree.districts[0]}",
        json={"document": {"thresholds": {"steward_required_min": "2000万"}}},
        headers=registry.auth(tree.city, "tenant_admin"),
    )
    assert r.status_code == 201
    rules = await stub.GetEffectiveRules(
        pb.GetEffectiveRulesRequest(tenant=tree.districts[0]), metadata=md(registry, tree.city), timeout=5
    )
    doc = json.loads(rules.document_json)
    assert doc["thresholds"]["steward_required_min"] == 20_000_000
    assert [(v.tenant, v.version) for v in rules.versions] == [(tree.districts[0], 1)]
    chain = await stub.GetTenantAncestry(
        pb.GetTenantAncestryRequest(tenant=tree.township), metadata=md(registry, tree.city), timeout=5
    )
    assert [t.code for t in chain.ancestors] == [tree.city, tree.districts[2], tree.township]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetEffectiveRules(
            pb.GetEffectiveRulesRequest(tenant=tree.districts[1]),
            metadata=md(registry, tree.districts[0]),
            timeout=5,
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_health_and_reflection(registry: Registry) -> None:
    async with grpc.aio.insecure_channel(registry.grpc_target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        resp = await health.Check(
            health_pb2.HealthCheckRequest(service="steward.api.registry.v1.RegistryService"), timeout=5
        )
        assert resp.status == health_pb2.HealthCheckResponse.SERVING
        refl = reflection_pb2_grpc.ServerReflectionStub(channel)

        async def ask() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
            yield reflection_pb2.ServerReflectionRequest(list_services="")

        names = []
        async for answer in refl.ServerReflectionInfo(ask()):
            names = [s.name for s in answer.list_services_response.service]
        assert "steward.api.registry.v1.RegistryService" in names


async def test_input_the_database_cannot_store_is_invalid_argument(
    registry: Registry, tree: Tree, stub: pb_grpc.RegistryServiceStub
) -> None:
    """A NUL character reaches PostgreSQL as a data exception: INVALID_ARGUMENT, never INTERNAL."""
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetTenantAncestry(
            pb.GetTenantAncestryRequest(tenant="2101\x0000"), metadata=md(registry, "*"), timeout=5
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    r = await registry.http.get(
        "/v1/projects", params={"q": "a\x00b"}, headers=registry.auth(tree.city, "dispatcher")
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_data", r.text
