"""Attack regressions (issue 14): tokens without a known role and tokens of a tenant that does not
exist are refused on every REST operation and every gRPC method; enterprise contacts list only
their own enterprise's and own projects' people, with e-mail addresses masked like phones."""

from __future__ import annotations

import re
import time
from typing import Any

import grpc
import jwt
import pytest
import sqlalchemy as sa

from steward.api.registry.v1 import registry_pb2 as pb
from steward.api.registry.v1 import registry_pb2_grpc as pb_grpc
from steward.kit.audit_chain import chain_pending, verify
from steward.kit.grpc import bearer_metadata
from steward.registry.testing import SECRET, Registry, Tree, create_project, make_tree
from steward.rules import preset_override

GRPC_METHODS = {
    "GetProject": pb.GetProjectRequest(id_or_code="x"),
    "ListProjects": pb.ListProjectsRequest(),
    "GetRoster": pb.GetRosterRequest(project_id="x"),
    "GetEffectiveRules": pb.GetEffectiveRulesRequest(),
    "GetTenantAncestry": pb.GetTenantAncestryRequest(),
    "ListReports": pb.ListReportsRequest(),
    "GetReportStatus": pb.GetReportStatusRequest(),
}


def raw_token(tenant: str, roles: list[str], sub: str = "probe") -> str:
    """Signed with the registry's dev secret, with any roles (``mint_dev_token`` refuses unknown ones)."""
    now = int(time.time())
    claims = {"sub": sub, "tenant": tenant, "roles": roles, "iss": "steward-dev", "aud": "steward"}
    return jwt.encode({**claims, "iat": now, "exp": now + 600}, SECRET, algorithm="HS256")


async def authenticated_operations(registry: Registry) -> list[tuple[str, str]]:
    spec = (await registry.http.get("/openapi.json")).json()
    ops = [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"} and op.get("security")
    ]
    assert len(ops) > 30, ops  # every operation of the registry, not a sample
    return ops


async def refused_everywhere(registry: Registry, token: str, *, status: int, code: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    answers: dict[str, Any] = {}
    for method, path in await authenticated_operations(registry):
        url = re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)
        body = {} if method in {"POST", "PUT", "PATCH"} else None
        r = await registry.http.request(method, url, headers=headers, json=body)
        if r.status_code != status or r.json()["error"]["code"] != code:
            answers[f"{method} {path}"] = (r.status_code, r.text[:120])
    assert answers == {}, answers
    async with grpc.aio.insecure_channel(registry.grpc_target) as channel:
        stub = pb_grpc.RegistryServiceStub(channel)
        for name, request in GRPC_METHODS.items():
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await getattr(stub, name)(request, metadata=bearer_metadata(token), timeout=10)
            assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED, (name, info.value.details())


@pytest.mark.parametrize("roles", [[], ["wizard"], ["root", "admin"]])
async def test_no_known_role_is_refused_on_every_operation(
    registry: Registry, tree: Tree, roles: list[str]
) -> None:
    await create_project(registry, tree.districts[0])  # there is something to read
    await refused_everywhere(registry, raw_token(tree.districts[0], roles), status=403, code="no_known_role")


async def test_an_unknown_tenant_is_refused_on_every_operation(registry: Registry) -> None:
    ghost = raw_token("999999", ["tenant_admin", "dispatcher"])
    await refused_everywhere(registry, ghost, status=403, code="unknown_token_tenant")


async def test_a_known_tenant_with_a_role_still_reads(registry: Registry, tree: Tree) -> None:
    hdr = registry.auth(tree.districts[0], "auditor")
    assert (await registry.http.get("/v1/projects", headers=hdr)).status_code == 200
    async with grpc.aio.insecure_channel(registry.grpc_target) as channel:
        stub = pb_grpc.RegistryServiceStub(channel)
        token = registry.token(tree.districts[0], "auditor")
        reply = await stub.ListProjects(pb.ListProjectsRequest(), metadata=bearer_metadata(token), timeout=10)
        assert reply is not None


async def test_enterprise_contacts_see_only_their_own_projects_people_masked(registry: Registry) -> None:
    tree = await make_tree(registry, rules={"d2": preset_override("fuxin_steward")})
    d = tree.districts[2]
    admin = registry.auth(d, "tenant_admin")

    async def unit(name: str, kind: str, credit: str | None = None) -> str:
        body = {"tenant": d, "kind": kind, "name": f"{name}{tree.city}"}
        if credit:
            body["credit_code"] = credit
        r = await registry.http.post("/v1/units", json=body, headers=admin)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def person(name: str, unit_id: str, tag: str) -> dict[str, Any]:
        body = {
            "tenant": d,
            "name": name,
            "unit_id": unit_id,
            "phone": "13912345678",
            "email": f"{tag}-{tree.city}@example.gov.cn",
            "subject": f"s-{tag}-{tree.city}",
        }
        r = await registry.http.post("/v1/people", json=body, headers=admin)
        assert r.status_code == 201, r.text
        return dict(r.json())

    mine_unit = await unit("甲公司", "enterprise", "91110000MA0AAAAA11")
    other_unit = await unit("乙公司", "enterprise", "91110000MA0BBBBB22")
    dept = await unit("住建局", "department")
    colleague = await person("甲同事", mine_unit, "colleague")
    steward = await person("王管家", dept, "steward")  # on my project's roster
    bystander = await person("赵无关", dept, "bystander")  # on no project of mine
    rival = await person("乙联系人", other_unit, "rival")
    rival_steward = await person("钱管家", dept, "rival-steward")  # on the other enterprise's project

    dispatcher = registry.auth(d, "dispatcher")
    mine = (await create_project(registry, d, owner_unit_id=mine_unit)).json()
    theirs = (await create_project(registry, d, owner_unit_id=other_unit)).json()
    for project, holder in ((mine, steward), (theirs, rival_steward)):
        r = await registry.http.post(
            f"/v1/projects/{project['id']}/roster",
            json={"role_key": "steward", "person_id": holder["id"]},
            headers=dispatcher,
        )
        assert r.status_code == 201, r.text

    contact = registry.auth(d, "enterprise_contact", sub=f"s-colleague-{tree.city}", unit=mine_unit)
    r = await registry.http.get("/v1/people", params={"tenant": d, "limit": 200}, headers=contact)
    assert r.status_code == 200, r.text
    seen = {p["id"]: p for p in r.json()["items"]}
    assert set(seen) == {colleague["id"], steward["id"]}
    assert seen[steward["id"]]["email"] == f"s***@{'example.gov.cn'}"
    assert seen[steward["id"]]["phone"] == "139****5678"
    assert seen[colleague["id"]]["email"] == colleague["email"]  # their own record in full

    for hidden in (bystander, rival, rival_steward):
        r = await registry.http.get(f"/v1/people/{hidden['id']}", headers=contact)
        assert r.status_code == 404, (hidden["name"], r.text)
    shown = (await registry.http.get(f"/v1/people/{steward['id']}", headers=contact)).json()
    assert shown["email"] == "s***@example.gov.cn"

    # an enterprise contact with no enterprise sees only themselves
    lone = registry.auth(d, "enterprise_contact", sub=f"s-bystander-{tree.city}")
    r = await registry.http.get("/v1/people", params={"tenant": d}, headers=lone)
    assert [p["id"] for p in r.json()["items"]] == [bystander["id"]]

    # officials keep the full list and full addresses
    r = await registry.http.get("/v1/people", params={"tenant": d, "limit": 200}, headers=dispatcher)
    full = {p["id"]: p for p in r.json()["items"]}
    assert {colleague["id"], steward["id"], bystander["id"], rival["id"], rival_steward["id"]} <= set(full)
    assert full[bystander["id"]]["email"] == bystander["email"]
    # other roles without the phone see masked e-mail addresses too
    auditor = registry.auth(d, "auditor", sub="aud-1")
    r = await registry.http.get(f"/v1/people/{bystander['id']}", headers=auditor)
    assert r.json()["email"] == "b***@example.gov.cn" and r.json()["phone"] == "139****5678"


async def test_the_audit_trail_is_chained_and_verifies(registry: Registry) -> None:
    await make_tree(registry)  # writes audit entries (tenants created)
    await chain_pending(registry.db)  # what the runtime's chainer does every few seconds
    report = await verify(registry.db)
    assert report.ok and report.links >= 5, report.problems
    async with registry.db.transaction() as session:
        last = (
            await session.execute(
                sa.text(
                    "SELECT a.id, a.actor FROM steward_audit_chain c JOIN steward_audit a ON a.id = c.audit_id "
                    "ORDER BY c.pos DESC LIMIT 1"
                )
            )
        ).one()
        await session.execute(
            sa.text("UPDATE steward_audit SET actor = 'someone-else' WHERE id = :i"), {"i": last.id}
        )
    try:
        broken = await verify(registry.db)
        assert not broken.ok and any("was changed" in p for p in broken.problems), broken.problems
    finally:
        async with registry.db.transaction() as session:
            await session.execute(
                sa.text("UPDATE steward_audit SET actor = :a WHERE id = :i"), {"a": last.actor, "i": last.id}
            )
    assert (await verify(registry.db)).ok
