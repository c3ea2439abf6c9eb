"""The kit's registry client against the real registry: service token, caches, invalidation."""

from __future__ import annotations

import pytest

from steward.kit.clients.registry import RegistryClient
from steward.kit.errors import NotFound
from steward.kit.settings import ServiceSettings
from steward.registry.testing import SECRET, Registry, Tree, create_project


async def test_registry_client_reads_and_caches(registry: Registry, tree: Tree) -> None:
    settings = ServiceSettings(
        service_name="issues", registry_grpc_target=registry.grpc_target, jwt_dev_secret=SECRET
    )  # type: ignore[arg-type]
    client = RegistryClient(settings)
    try:
        p = (await create_project(registry, tree.township, total_investment="3000万")).json()
        got = await client.project(p["code"])
        assert got.id == p["id"] and got.tenant == tree.township
        assert await client.ancestry_codes(tree.township) == [tree.city, tree.districts[2], tree.township]
        rules = await client.rules(tree.township)
        assert rules.thresholds.steward_required_min is None
        r = await registry.http.put(
            f"/v1/rules/{tree.districts[2]}",
            json={"document": {"thresholds": {"steward_required_min": "2000万"}}},
            headers=registry.auth(tree.city),
        )
        assert r.status_code == 201
        assert (await client.rules(tree.township)).thresholds.steward_required_min is None  # cached
        client.invalidate_rules(tree.districts[2])  # what a rules.updated consumer does
        assert (await client.rules(tree.township)).thresholds.steward_required_min == 20_000_000
        with pytest.raises(NotFound):
            await client.project("no-such-code")
        # a user token narrows the scope to that user's subtree
        with pytest.raises(NotFound):
            await client.project(p["id"], token=registry.token(tree.districts[0], "dispatcher"))
    finally:
        await client.close()


async def test_service_scope_cannot_be_claimed_by_users(registry: Registry) -> None:
    r = await registry.http.get("/v1/projects", headers=registry.auth("*", "dispatcher"))
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"


async def test_client_built_outside_the_serving_loop_works(registry: Registry, tree: Tree) -> None:
    """Services build their clients before uvicorn's loop runs; the channel must open lazily."""
    import asyncio

    settings = ServiceSettings(
        service_name="notify", registry_grpc_target=registry.grpc_target, jwt_dev_secret=SECRET
    )  # type: ignore[arg-type]
    client = await asyncio.to_thread(RegistryClient, settings)
    try:
        assert await client.ancestry_codes(tree.zone) == [tree.city, tree.zone]
    finally:
        await client.close()
