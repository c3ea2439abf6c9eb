"""Tenant scope over REST and gRPC (a district never reads, changes or escalates a sibling's matter;
enterprise contacts see their own projects only), the gRPC API other services use, and the
rules.updated consumer."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from steward.api.issues.v1 import issues_pb2 as pb
from steward.api.issues.v1 import issues_pb2_grpc as pb_grpc
from steward.issues.testing import Issues, auth, local, token, wait_for
from steward.kit.auth import service_token
from steward.kit.clock import Clock
from steward.kit.grpc import bearer_metadata
from steward.kit.settings import ServiceSettings
from steward.registry.testing import SECRET, Registry, Tree, create_project


async def _matter(issues: Issues, registry: Registry, tenant: str, **extra: Any) -> dict[str, Any]:
    p = (await create_project(registry, tenant, total_investment="5000万", **extra)).json()
    body = {
        "kind": "obstacle",
        "project_id": p["id"],
        "title": "环评审批缓慢",
        "category": "environment",
        "tier": "unit",
    }
    r = await issues.http.post("/v1/matters", json=body, headers=auth(tenant, "steward"))
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_district_cannot_read_change_or_escalate_a_siblings_matter_over_rest(
    issues: Issues, registry: Registry, tree: Tree, clock: Clock
) -> None:
    mine, sibling = tree.districts[0], tree.districts[1]
    m = await _matter(issues, registry, sibling)
    other = auth(mine, "tenant_admin")
    assert (await issues.http.get(f"/v1/matters/{m['id']}", headers=other)).status_code == 404
    assert (await issues.http.get(f"/v1/matters/{m['number']}", headers=other)).status_code == 404
    assert (await issues.http.get(f"/v1/matters/{m['id']}/timeline", headers=other)).status_code == 404
    for action, body in [
        ("accept", {"responsible_unit_name": "x"}),
        ("escalate", {"reason": "x"}),
        ("reject", {"reason": "x"}),
        ("pause", {"reason": "x"}),
    ]:
        r = await issues.http.post(f"/v1/matters/{m['id']}/{action}", json=body, headers=other)
        assert r.status_code == 404, (action, r.text)
    r = await issues.http.post(
        f"/v1/matters/{m['id']}/supervision-orders",
        json={"instructions": "x", "due_working_days": 2},
        headers=auth(mine, "supervisor"),
    )
    assert r.status_code == 404
    assert (await issues.http.get(f"/v1/matters?tenant={sibling}", headers=other)).status_code == 404
    listed = (await issues.http.get("/v1/matters?limit=200", headers=other)).json()["items"]
    assert m["id"] not in {x["id"] for x in listed}
    # the sibling's own people and the city above both see it; nothing was changed
    got = (await issues.http.get(f"/v1/matters/{m['id']}", headers=auth(tree.city, "supervisor"))).json()
    assert got["status"] == "filed" and got["row_version"] == 1 and got["escalations"] == 0


async def test_enterprise_contacts_see_their_own_projects_only(
    issues: Issues, registry: Registry, tree: Tree, clock: Clock
) -> None:
    d = tree.districts[2]
    admin = registry.auth(d, "tenant_admin")
    units = []
    for name in ("甲企业有限公司", "乙企业有限公司"):
        r = await registry.http.post(
            "/v1/units", json={"tenant": d, "kind": "enterprise", "name": name}, headers=admin
        )
        units.append(r.json()["id"])
    p = (await create_project(registry, d, total_investment="5000万", owner_unit_id=units[0])).json()
    ours = auth(d, "enterprise_contact", sub="contact-a", unit=units[0])
    theirs = auth(d, "enterprise_contact", sub="contact-b", unit=units[1])
    body = {"kind": "obstacle", "project_id": p["id"], "title": "施工许可办理慢", "category": "approval"}
    r = await issues.http.post("/v1/matters", json=body, headers=ours)
    assert r.status_code == 201, r.text
    m = r.json()
    assert r.json()["tier"] == "unit"  # the approval category's default tier
    assert (
        await issues.http.post("/v1/matters", json=body, headers=theirs)
    ).status_code == 404  # registry scope
    assert (await issues.http.get(f"/v1/matters/{m['id']}", headers=ours)).status_code == 200
    assert (await issues.http.get(f"/v1/matters/{m['id']}", headers=theirs)).status_code == 404
    assert [x["id"] for x in (await issues.http.get("/v1/matters", headers=theirs)).json()["items"]] == []
    assert m["id"] in [x["id"] for x in (await issues.http.get("/v1/matters", headers=ours)).json()["items"]]


@pytest.fixture
async def stub(issues: Issues) -> Any:
    channel = grpc.aio.insecure_channel(issues.grpc_target)
    yield pb_grpc.IssuesServiceStub(channel)
    await channel.close()


async def test_grpc_scope_siblings_get_not_found(
    issues: Issues, registry: Registry, tree: Tree, clock: Clock, stub: Any
) -> None:
    mine, sibling = tree.districts[0], tree.districts[1]
    m = await _matter(issues, registry, sibling)
    md = bearer_metadata(token(mine, "tenant_admin"))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetMatter(pb.GetMatterRequest(id_or_number=m["id"]), metadata=md)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListMatters(pb.ListMattersRequest(tenant=sibling), metadata=md)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    report = await stub.MatterStatusReport(pb.MatterStatusReportRequest(ids=[m["id"]]), metadata=md)
    assert not report.items[0].found
    p = (await create_project(registry, sibling, total_investment="5000万")).json()
    with pytest.raises(grpc.aio.AioRpcError) as err:  # cannot file on a sibling's project either
        await stub.CreateMatter(
            pb.CreateMatterRequest(kind="decision", project_id=p["id"], title="x", meeting_id="m1"),
            metadata=md,
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    got = await stub.GetMatter(
        pb.GetMatterRequest(id_or_number=m["number"]), metadata=bearer_metadata(token(sibling, "dispatcher"))
    )
    assert got.id == m["id"]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetMatter(pb.GetMatterRequest(id_or_number=m["id"]))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_meetings_create_decisions_idempotently_and_get_a_status_report(
    issues: Issues, registry: Registry, tree: Tree, clock: Clock, stub: Any
) -> None:
    d = tree.districts[0]
    settings = ServiceSettings(service_name="meetings", jwt_dev_secret=SECRET)  # type: ignore[arg-type]
    md = bearer_metadata(service_token(settings))
    clock.set(local(2026, 11, 20, 11))  # Friday's meeting; decisions due next Friday
    req = pb.CreateMatterRequest(
        kind="decision",
        tenant=d,
        title="协调解决供热管网迁改",
        responsible_unit_name="住建局",
        due_date="2026-11-27",
        meeting_id="meeting-1",
        decision_id="dec-1",
        idempotency_key="decision:dec-1",
        reporter="meetings:chair",
    )
    first = await stub.CreateMatter(req, metadata=md)
    again = await stub.CreateMatter(req, metadata=md)
    assert first.id == again.id and first.number.startswith(f"{d}-2026-H-")
    assert (
        first.due_date == "2026-11-27"
        and first.reporter == "meetings:chair"
        and first.meeting_id == "meeting-1"
    )
    second = await stub.CreateMatter(
        pb.CreateMatterRequest(
            kind="decision",
            tenant=d,
            title="土地移交",
            meeting_id="meeting-1",
            idempotency_key="decision:dec-2",
        ),
        metadata=md,
    )
    assert second.sla_days == 5  # no date given: the decision SLA at the unit tier
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.CreateMatter(
            pb.CreateMatterRequest(kind="decision", tenant=d, title="x", due_date="tomorrow", meeting_id="m"),
            metadata=md,
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    listed = await stub.ListMatters(pb.ListMattersRequest(tenant=d, meeting_id="meeting-1"), metadata=md)
    assert {m.id for m in listed.matters} == {first.id, second.id}
    await issues.http.post(
        f"/v1/matters/{first.id}/accept",
        json={"responsible_unit_name": "住建局"},
        headers=auth(d, "dispatcher"),
    )
    await issues.http.post(
        f"/v1/matters/{first.id}/resolve", json={"text": "已迁改"}, headers=auth(d, "dispatcher")
    )
    report = await stub.MatterStatusReport(
        pb.MatterStatusReportRequest(ids=[first.id, second.number, "nope"]), metadata=md
    )
    assert [(i.found, i.status) for i in report.items] == [(True, "resolved"), (True, "filed"), (False, "")]
    assert report.resolved == 1 and report.open == 1 and report.items[0].resolution == "已迁改"


async def test_rules_updated_drops_the_cached_rules_but_not_fixed_deadlines(
    issues: Issues, registry: Registry, tree: Tree, clock: Clock
) -> None:
    d = tree.districts[1]
    p = (await create_project(registry, d, total_investment="5000万")).json()
    body = {
        "kind": "obstacle",
        "project_id": p["id"],
        "title": "用地指标",
        "category": "land",
        "tier": "unit",
    }
    first = (await issues.http.post("/v1/matters", json=body, headers=auth(d, "steward"))).json()
    assert first["sla_days"] == 5
    r = await registry.http.put(
        f"/v1/rules/{d}",
        json={"document": {"matters": {"sla": {"obstacle": {"unit": 3}}}}},
        headers=registry.auth(d, "tenant_admin"),
    )
    assert r.status_code == 201, r.text

    async def picked_up() -> bool:
        m = (await issues.http.post("/v1/matters", json=body, headers=auth(d, "steward"))).json()
        return m["sla_days"] == 3

    await wait_for(picked_up, timeout=20, every=0.3)
    again = (await issues.http.get(f"/v1/matters/{first['id']}", headers=auth(d, "steward"))).json()
    assert again["sla_days"] == 5 and again["due_at"] == first["due_at"]  # fixed at filing
