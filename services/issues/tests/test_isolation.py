"""Ownership holes found in review: an idempotency key must not hand one enterprise another's matter,
and only services may file a matter naming someone else as its reporter (who then holds the
feedback rights)."""

from __future__ import annotations

import grpc
import pytest

from steward.api.issues.v1 import issues_pb2 as pb
from steward.api.issues.v1 import issues_pb2_grpc as pb_grpc
from steward.issues.testing import Issues, auth, token
from steward.kit.clock import Clock
from steward.kit.grpc import bearer_metadata
from steward.registry.testing import Registry, Tree, create_project


async def test_an_idempotency_key_never_replays_another_owners_matter(
    issues: Issues, registry: Registry, tree: Tree, clock: Clock
) -> None:
    d = tree.districts[0]
    admin = registry.auth(d, "tenant_admin")
    contacts, projects = [], []
    for name in ("甲公司", "乙公司"):
        unit = (
            await registry.http.post(
                "/v1/units", json={"tenant": d, "kind": "enterprise", "name": name}, headers=admin
            )
        ).json()["id"]
        projects.append(
            (await create_project(registry, d, total_investment="5000万", owner_unit_id=unit)).json()
        )
        contacts.append(auth(d, "enterprise_contact", sub=f"contact-{name}", unit=unit))

    def body(project: dict[str, str], title: str) -> dict[str, str]:
        return {
            "kind": "obstacle",
            "project_id": project["id"],
            "title": title,
            "category": "land",
            "idempotency_key": "obstacle-1",
        }

    first = await issues.http.post(
        "/v1/matters", json=body(projects[0], "甲的用地问题（内部）"), headers=contacts[0]
    )
    assert first.status_code == 201, first.text
    again = await issues.http.post(
        "/v1/matters", json=body(projects[0], "甲的用地问题（内部）"), headers=contacts[0]
    )
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]  # a true replay
    # the other enterprise, same tenant, same key, its own project: neither A's matter nor a 500
    r = await issues.http.post("/v1/matters", json=body(projects[1], "乙的问题"), headers=contacts[1])
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "idempotency_key_reused"
    assert "甲" not in r.text and first.json()["id"] not in r.text
    # staff reusing the key for a different project conflict too; an empty key is refused, not stored
    staff = auth(d, "dispatcher")
    r = await issues.http.post("/v1/matters", json=body(projects[1], "x"), headers=staff)
    assert r.status_code == 409
    for blank in ("", "  "):
        r = await issues.http.post(
            "/v1/matters", json={**body(projects[1], "x"), "idempotency_key": blank}, headers=staff
        )
        assert r.status_code == 422, r.text


async def test_only_services_file_in_someone_elses_name_over_grpc(
    issues: Issues, registry: Registry, tree: Tree, clock: Clock
) -> None:
    d = tree.districts[1]
    channel = grpc.aio.insecure_channel(issues.grpc_target)
    stub = pb_grpc.IssuesServiceStub(channel)
    try:
        req = pb.CreateMatterRequest(
            kind="decision", tenant=d, title="以他人名义", meeting_id="m-x", reporter="the-mayor"
        )
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.CreateMatter(req, metadata=bearer_metadata(token(d, "tenant_admin", sub="clerk")))
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        listed = await stub.ListMatters(
            pb.ListMattersRequest(tenant=d, meeting_id="m-x"),
            metadata=bearer_metadata(token(d, "tenant_admin")),
        )
        assert list(listed.matters) == []  # nothing was written
        own = await stub.CreateMatter(
            pb.CreateMatterRequest(kind="decision", tenant=d, title="本人", meeting_id="m-x"),
            metadata=bearer_metadata(token(d, "tenant_admin", sub="clerk")),
        )
        assert own.reporter == "clerk"
    finally:
        await channel.close()
