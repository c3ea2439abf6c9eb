"""Tenants are never updated or deleted: after a tenant's first read, a registration or a project
list page answers its visibility check from memory (per database) instead of reading the tenant
row each time (8% of a registration's CPU). The check itself is made on every request."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from steward.registry.testing import Registry, Tree, create_project


def _tenant_reads(registry: Registry) -> tuple[list[str], Any]:
    reads: list[str] = []

    def seen(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if re.search(r"\bFROM tenants\b", statement):
            reads.append(statement)

    return reads, seen


async def test_a_warm_registration_and_list_page_read_no_tenant_row(registry: Registry, tree: Tree) -> None:
    d = tree.districts[0]
    assert (await create_project(registry, d)).status_code == 201  # the first read
    listed = await registry.http.get(
        "/v1/projects", params={"tenant": d}, headers=registry.auth(d, "dispatcher")
    )
    assert listed.status_code == 200
    reads, seen = _tenant_reads(registry)
    sa.event.listen(registry.db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        r = await create_project(registry, d, name="第二个项目")
        assert r.status_code == 201, r.text
        listed = await registry.http.get(
            "/v1/projects", params={"tenant": d}, headers=registry.auth(d, "dispatcher")
        )
        assert listed.status_code == 200 and len(listed.json()["items"]) == 2
    finally:
        sa.event.remove(registry.db.engine.sync_engine, "before_cursor_execute", seen)
    assert reads == []
    assert r.json()["tenant"] == d and r.json()["code"].startswith(f"{d}-")


async def test_a_remembered_tenant_is_still_checked_for_every_caller(registry: Registry, tree: Tree) -> None:
    ours, theirs = tree.districts[0], tree.districts[1]
    assert (await create_project(registry, theirs)).status_code == 201  # their tenant is remembered
    r = await create_project(registry, theirs, token_tenant=ours)  # a token of another district
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_tenant", r.text
    listed = await registry.http.get(
        "/v1/projects", params={"tenant": theirs}, headers=registry.auth(ours, "dispatcher")
    )
    assert listed.status_code == 404, listed.text
    r = await create_project(registry, "219999")  # a tenant that does not exist (not remembered)
    assert r.status_code in (403, 404), r.text
