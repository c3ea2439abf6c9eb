"""The tamper-evident audit trail (issue 14, point 10): entries written by ``record_change`` are
chained by the chainer; a changed, deleted or back-dated entry breaks the chain and ``verify`` says
which; entries written before the chain table existed are chained too."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations

from steward.kit import audit
from steward.kit.audit_chain import (
    _NEWER,
    GENESIS,
    AuditChainer,
    chain_pending,
    create_chain_indexes,
    create_chain_table,
    verify,
)
from steward.kit.db import Database, utcnow


async def add_entries(db: Database, n: int, *, tag: str) -> None:
    async with db.transaction() as session:
        for i in range(n):
            await audit.record(
                session,
                actor=f"user-{tag}",
                tenant="210112",
                action="update",
                entity="project",
                entity_id=f"{tag}-{i}",
                changes={"budget": ["100.00", f"{200 + i}.00"], "名称": "园区"},
            )


async def create_table(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: create_chain_table(Operations(MigrationContext.configure(c))))


async def test_chain_then_detect_changes_deletions_and_backdating(db: Database) -> None:
    await add_entries(db, 3, tag="before")  # written before the chain table existed
    assert await chain_pending(db) is None
    await create_table(db)
    await add_entries(db, 4, tag="after")
    assert await chain_pending(db) == 7
    assert await chain_pending(db) == 0
    report = await verify(db)
    assert report.ok and report.links == 7 and report.head != GENESIS, report.problems

    await add_entries(db, 2, tag="later")
    assert await chain_pending(db) == 2
    clean = await verify(db)
    assert clean.ok and clean.links == 9

    async with db.engine.begin() as conn:  # someone edits the history in the database
        await conn.execute(
            sa.text(
                "UPDATE steward_audit SET changes = jsonb_set(changes, '{budget,1}', '\"999.00\"') "
                "WHERE entity_id = 'after-1'"
            )
        )
    broken = await verify(db)
    assert not broken.ok and len(broken.problems) == 1 and "was changed" in broken.problems[0]

    async with db.engine.begin() as conn:
        await conn.execute(sa.text("DELETE FROM steward_audit WHERE entity_id = 'later-0'"))
        old = utcnow() - timedelta(days=30)
        await conn.execute(
            sa.text(
                "INSERT INTO steward_audit (id, at, actor, tenant, action, entity, entity_id, changes) "
                "VALUES (gen_random_uuid(), :at, 'mallory', '210112', 'delete', 'project', 'x', '{}')"
            ),
            {"at": old},
        )
    await chain_pending(db)  # the back-dated entry is older than the chain: it is not slipped in
    worse = await verify(db)
    text = " | ".join(worse.problems)
    assert "was changed" in text and "was deleted" in text and "not in it" in text, worse.problems


async def test_the_chainer_worker_chains_new_entries(db: Database) -> None:
    await create_table(db)
    chainer = AuditChainer(db, interval=0.05)
    task = asyncio.create_task(chainer.run())
    try:
        await add_entries(db, 5, tag="live")
        for _ in range(100):
            if (await verify(db)).links == 5:
                break
            await asyncio.sleep(0.05)
    finally:
        chainer.stop()
        await asyncio.wait_for(task, 5)
    report = await verify(db)
    assert report.ok and report.links == 5


async def test_a_round_reads_by_index_ranges_and_the_look_back_chains_late_commits(db: Database) -> None:
    """A round reads the entries after the newest chained one by an index range (its cost is what it
    chains, not the table); an entry committed after newer ones were chained is found by the look
    back over the margin before them."""
    await create_table(db)
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: create_chain_indexes(Operations(MigrationContext.configure(c))))
    await add_entries(db, 3, tag="first")
    assert await chain_pending(db) == 3
    async with db.engine.begin() as conn:  # a transaction that took its time to commit
        await conn.execute(
            sa.text(
                "INSERT INTO steward_audit (id, at, actor, tenant, action, entity, entity_id, changes) "
                "VALUES (gen_random_uuid(), :at, 'slow', '210112', 'update', 'project', 'late', '{}')"
            ),
            {"at": utcnow() - timedelta(minutes=5)},
        )
    assert await chain_pending(db, late=False) == 0  # after the newest chained entry: nothing
    assert await chain_pending(db) == 1  # the look back finds it
    report = await verify(db)
    assert report.ok and report.links == 4, report.problems
    async with db.engine.begin() as conn:
        await conn.execute(sa.text("SET LOCAL enable_seqscan = off"))  # a seq scan only without the index
        plans = [
            "\n".join(r[0] for r in await conn.execute(sa.text(f"EXPLAIN {sql}"), params))
            for sql, params in [
                (_NEWER, {"at": utcnow(), "id": uuid.uuid4(), "batch": 1000}),
                (
                    "SELECT entry_at, audit_id FROM steward_audit_chain ORDER BY entry_at DESC, audit_id DESC LIMIT 1",
                    {},
                ),
            ]
        ]
    assert "ix_steward_audit_at" in plans[0], plans[0]
    assert "ix_steward_audit_chain_entry_at" in plans[1], plans[1]
