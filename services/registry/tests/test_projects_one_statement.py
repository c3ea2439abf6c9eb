"""A registration's code is taken by its own statement, which goes as a transaction of its own
(``kit.writes.Taken``, ``batched(last=True)``): no BEGIN, gapless codes, events that carry them."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from typing import Any

import sqlalchemy as sa

from steward.kit.testing import Begins, Opened
from steward.registry.testing import Registry, Tree, create_project


async def test_a_registration_sends_no_begin(registry: Registry, tree: Tree) -> None:
    """The rules in force are read outside the transaction and the writes go as one statement: no
    BEGIN, no COMMIT."""
    d = tree.districts[1]
    assert (await create_project(registry, d)).status_code == 201  # the tenant is cached from here
    with Begins(requests=True) as begun:
        for i in range(3):
            r = await create_project(registry, d, name=f"一次往返 {i}")
            assert r.status_code == 201, r.text
    assert begun.sent == []


async def test_concurrent_registrations_take_gapless_codes_that_their_events_carry(
    registry: Registry, tree: Tree
) -> None:
    d = tree.districts[0]

    async def one(i: int) -> dict[str, Any]:
        r = await create_project(registry, d, name=f"并发登记 {i}", total_investment="2亿")
        assert r.status_code == 201, r.text
        return dict(r.json())

    made = await asyncio.gather(*(one(i) for i in range(12)))
    seqs = sorted(int(p["code"].rsplit("-", 1)[1]) for p in made)
    assert seqs == list(range(seqs[0], seqs[0] + 12))
    async with registry.db.read() as s:
        rows = (
            await s.execute(
                sa.text(
                    "SELECT p.code, o.payload->'data'->>'code', o.payload::text, p.tier FROM projects p "
                    "JOIN steward_outbox o ON o.payload->'data'->>'project_id' = p.id::text "
                    "AND o.type = 'steward.project.registered.v1' WHERE p.id = ANY(:ids)"
                ),
                {"ids": [uuid.UUID(p["id"]) for p in made]},
            )
        ).all()
    assert len(rows) == 12 and all(code == carried for code, carried, _, _ in rows)
    assert {p["code"] for p in made} == {code for code, _, _, _ in rows}
    assert not any("steward-taken-" in payload for _, _, payload, _ in rows)
    assert {tier for *_, tier in rows} == {"city"}  # dispatch derived from the rules read before


async def test_every_registration_needs_no_sqlalchemy_transaction(registry: Registry, tree: Tree) -> None:
    """Its look-ups (a tenant read for the first time, an owner unit, a national code, rules versions
    not folded yet) go straight through the driver without BEGIN, then its one statement alone: a
    lone session (``Database.lone``), no SQLAlchemy transaction around it — and the look-ups still
    refuse what they refused."""
    d = tree.districts[2]
    admin = registry.auth(d, "tenant_admin")
    unit = await registry.http.post(
        "/v1/units",
        json={
            "tenant": d,
            "kind": "enterprise",
            "name": f"独立会话公司{tree.city}",
            "credit_code": "91110000MA0CCCCC33",
        },
        headers=admin,
    )
    assert unit.status_code == 201, unit.text
    rules = await registry.http.put(
        f"/v1/rules/{d}", json={"document": {"thresholds": {"steward_required_min": "3000万"}}}, headers=admin
    )
    assert rules.status_code == 201, rules.text
    code = f"2026-510107-47-03-98{secrets.token_hex(2).upper()}"
    with Begins(requests=True) as begun, Opened(registry.db) as opened:
        first = await create_project(
            registry, d, owner_unit_id=unit.json()["id"], national_code=code, total_investment="5000万"
        )
        assert first.status_code == 201, first.text
        taken = await create_project(registry, d, national_code=code)
        unknown = await create_project(registry, d, owner_unit_id=str(uuid.uuid4()))
        hidden = await create_project(registry, tree.districts[0], token_tenant=d)
    assert first.json()["dispatch"]["steward_required"] is True  # the district's own rules version
    assert first.json()["owner_unit_id"] == unit.json()["id"] and first.json()["national_code"] == code
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "national_code_taken"
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "invalid_owner"
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "unknown_tenant"
    assert opened.kinds == ["lone"] * 4 and begun.sent == []
