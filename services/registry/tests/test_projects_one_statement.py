"""A registration's code is taken by its own statement, which goes as a transaction of its own
(``kit.writes.Taken``, ``batched(last=True)``): no BEGIN, gapless codes, events that carry them."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import sqlalchemy as sa

from steward.kit.testing import Begins
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
