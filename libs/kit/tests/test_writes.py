"""One round trip per state change (steward.kit.writes) against real PostgreSQL: what a batched block
writes is one statement, the same rows the ORM writes, all or nothing, and an attached entity keeps
behaving like an ORM object."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from steward.kit import audit, dedup, writes
from steward.kit.audit import AuditEntry
from steward.kit.db import Database, construct, utcnow
from steward.kit.outbox import NOTIFY_CHANNEL, OutboxEvent, emit
from steward.kit.timers import DueTimer, cancel, schedule


class Counted:
    """The statements the engine sends (BEGIN and COMMIT are not statements here)."""

    def __init__(self, db: Database) -> None:
        self.statements: list[str] = []
        self.engine = db.engine.sync_engine

    def __enter__(self) -> Counted:
        sa.event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc: Any) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)


async def _write_change(session: Any, kit: Any, tenant: str, key: str, *, timers: bool = True) -> None:
    await audit.record(session, actor="u1", tenant=tenant, action="create", entity="thing", entity_id=key)
    await emit(session, kit.Pinged(n=1), tenant=tenant, source="kit-test", subject=key)
    if not timers:
        return
    await schedule(session, kind="kit.test", key=key, tenant=tenant, due_at=utcnow() + timedelta(days=1))
    await schedule(session, kind="kit.other", key=key, tenant=tenant, due_at=utcnow() + timedelta(days=2))
    await cancel(session, kind="kit.other", key=key)


async def _rows(db: Database, key: str) -> dict[str, list[dict[str, Any]]]:
    async with db.read() as s:
        out: dict[str, list[dict[str, Any]]] = {}
        for name, table, where in [
            ("audit", AuditEntry.__table__, AuditEntry.__table__.c.entity_id == key),
            ("outbox", OutboxEvent.__table__, OutboxEvent.__table__.c.payload["subject"].astext == key),
            ("timers", DueTimer.__table__, DueTimer.__table__.c.key == key),
        ]:
            rows = (await s.execute(sa.select(table).where(where))).mappings().all()
            out[name] = [dict(r) for r in rows]
        return out


def _shape(rows: dict[str, list[dict[str, Any]]]) -> dict[str, list[tuple[Any, ...]]]:
    """The rows without the values that differ by nature (ids, times, the event's own id)."""
    varying = {"id", "at", "created_at", "due_at", "payload", "subject", "headers", "entity_id", "key"}
    return {
        name: sorted(tuple(sorted((k, str(v)) for k, v in r.items() if k not in varying)) for r in rs)
        for name, rs in rows.items()
    }


async def test_a_batched_change_is_one_statement_with_the_rows_the_orm_writes(
    db: Database, kit: Any, tenant: str
) -> None:
    async with db.transaction() as session:  # the ORM's way, statement by statement
        with Counted(db) as orm:
            await _write_change(session, kit, tenant, "orm")
            await session.flush()
    async with db.transaction() as session:
        with Counted(db) as one:
            async with writes.batched(session):
                await _write_change(session, kit, tenant, "batched")
    assert len(orm.statements) >= 6
    # audit, event, NOTIFY and the first timer in one statement; the cancel sends the batch so far
    # (the second timer with it, so the DELETE sees it), then deletes on its own
    assert len(one.statements) == 2, one.statements
    assert one.statements[0].lstrip().upper().startswith("WITH")
    assert "pg_notify" in one.statements[0] and "steward_timers" in one.statements[0]
    assert one.statements[1].lstrip().upper().startswith("DELETE")

    orm_rows, batched_rows = await _rows(db, "orm"), await _rows(db, "batched")
    assert [len(orm_rows[k]) for k in ("audit", "outbox", "timers")] == [1, 1, 1]
    assert _shape(orm_rows) == _shape(batched_rows)
    assert batched_rows["timers"][0]["kind"] == "kit.test"  # the cancelled one is gone


async def test_an_exception_in_the_block_writes_nothing(db: Database, kit: Any, tenant: str) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as session, writes.batched(session):
            await _write_change(session, kit, tenant, "failed")
            raise RuntimeError("refused halfway")
    assert await _rows(db, "failed") == {"audit": [], "outbox": [], "timers": []}


async def test_one_notify_per_transaction_wakes_the_relay(db: Database, kit: Any, tenant: str) -> None:
    conn = await db.engine.raw_connection()
    heard: list[str] = []
    try:
        driver = conn.driver_connection
        assert driver is not None
        await driver.add_listener(
            NOTIFY_CHANNEL, lambda _conn, _pid, channel, _payload: heard.append(channel)
        )
        async with db.transaction() as session:
            async with writes.batched(session):
                await emit(session, kit.Pinged(n=1), tenant=tenant, source="kit-test")
            await emit(session, kit.Pinged(n=2), tenant=tenant, source="kit-test")  # after: no 2nd NOTIFY
        for _ in range(50):
            if heard:
                break
            await __import__("asyncio").sleep(0.05)
        assert heard == [NOTIFY_CHANNEL]
    finally:
        conn.close()


async def test_an_attached_entity_is_updated_like_an_orm_object(db: Database, tenant: str) -> None:
    async with db.transaction() as session:
        entry = AuditEntry(actor="u1", tenant=tenant, action="create", entity="doc", entity_id="attached")
        async with writes.batched(session):
            writes.add(session, entry, attach=True)
        assert entry.id is not None and entry.at is not None  # Python-side defaults filled in
        entry.action = "renamed"  # flushed as an UPDATE at commit, as for any loaded row
        assert await session.get(AuditEntry, entry.id) is entry  # in the identity map
    async with db.read() as session:
        row = await session.get(AuditEntry, entry.id)
        assert row is not None and row.action == "renamed"


async def test_a_repeated_upsert_keeps_the_last(db: Database, tenant: str) -> None:
    async with db.transaction() as session, writes.batched(session) as batch:
        first, last = utcnow() + timedelta(days=1), utcnow() + timedelta(days=3)
        for due in (first, last):  # one statement may not upsert a row twice: only the last is sent
            await schedule(session, kind="kit.twice", key="k", tenant=tenant, due_at=due)
        assert len(batch.rows) == 1
    async with db.read() as session:
        rows = (
            (await session.execute(sa.select(DueTimer).where(DueTimer.kind == "kit.twice"))).scalars().all()
        )
        assert [r.due_at for r in rows] == [last]


async def test_conditional_parts_follow_the_part_they_depend_on(db: Database, kit: Any, tenant: str) -> None:
    """A reporting part (an idempotent insert) and the audit entry and event that depend on it: one
    statement either way; the repeat writes neither, and says so."""
    event_id = uuid.uuid4()
    reported = []
    for _ in range(2):
        async with db.transaction() as session:
            with Counted(db) as one:
                async with writes.batched(session) as batch:
                    key = dedup.queue_first(batch, consumer="kit-test", event_id=event_id)
                    with batch.only_if(key):
                        await _write_change(session, kit, tenant, f"guarded-{event_id}", timers=False)
            assert len(one.statements) == 1, one.statements
            assert "WHERE EXISTS" in one.statements[0] and "RETURNING 1" in one.statements[0]
            reported.append(batch.written[key])
    assert reported == [True, False]
    rows = await _rows(db, f"guarded-{event_id}")
    assert [len(rows[k]) for k in ("audit", "outbox")] == [1, 1]


async def test_a_condition_sent_early_still_guards_what_is_queued_after_it(
    db: Database, kit: Any, tenant: str
) -> None:
    """A DELETE inside ``only_if`` (``timers.cancel``) sends the condition early; what is queued after
    it is written only if the condition wrote its row, and ``wrote`` answers from the first statement."""
    event_id = uuid.uuid4()
    reported = []
    for _ in range(2):
        async with db.transaction() as session, writes.batched(session) as batch:
            key = dedup.queue_first(batch, consumer="kit-test", event_id=event_id)
            with batch.only_if(key):
                await cancel(session, kind="kit.none", key="nothing")  # sends the condition now
                await _write_change(session, kit, tenant, f"late-{event_id}", timers=False)
        reported.append(batch.wrote(key))
    assert reported == [True, False]
    rows = await _rows(db, f"late-{event_id}")
    assert [len(rows[k]) for k in ("audit", "outbox")] == [1, 1]  # the repeat wrote neither


async def test_wrote_refuses_to_answer_before_the_statement_is_sent(db: Database, tenant: str) -> None:
    async with db.transaction() as session, writes.batched(session) as outer:
        async with writes.batched(session) as inner:  # nested: the outer block sends everything
            key = dedup.queue_first(inner, consumer="kit-test", event_id=uuid.uuid4())
        with pytest.raises(RuntimeError):
            inner.wrote(key)
    assert outer.wrote(key) is True


async def test_only_if_needs_a_reporting_part(db: Database, tenant: str) -> None:
    async with db.transaction() as session, writes.batched(session) as batch:
        key = batch.add(AuditEntry(actor="u1", tenant=tenant, action="a", entity="e", entity_id="x"))
        with pytest.raises(ValueError), batch.only_if(key):
            pass
        batch.rows.clear()  # nothing to send


async def test_a_constructed_entity_is_written_and_tracked_like_an_orm_built_one(
    db: Database, tenant: str
) -> None:
    """``construct`` skips the per-field instrumentation of the model's constructor; the instance
    still gets every default, is written batched or by the ORM, and later changes are UPDATEs."""
    built = construct(AuditEntry, actor="u1", tenant=tenant, action="create", entity="doc", entity_id="c1")
    orm = AuditEntry(actor="u1", tenant=tenant, action="create", entity="doc", entity_id="c2")
    defaults = {k for k, f in AuditEntry.model_fields.items() if not f.is_required()}
    assert {k: type(getattr(built, k)) for k in defaults} == {k: type(getattr(orm, k)) for k in defaults}
    assert built.id != orm.id and sa.inspect(built).transient
    plain = construct(AuditEntry, actor="u1", tenant=tenant, action="create", entity="doc", entity_id="c3")
    async with db.transaction() as session:
        async with writes.batched(session):
            writes.add(session, built, attach=True)
        built.action = "renamed"
        session.add(plain)  # the ORM's own INSERT, outside a batch
    async with db.read() as session:
        found = await session.execute(sa.select(AuditEntry).where(AuditEntry.tenant == tenant))
        rows = {r.entity_id: r for r in found.scalars()}
    assert rows["c1"].action == "renamed" and rows["c1"].id == built.id
    assert rows["c3"].action == "create" and rows["c3"].at is not None
    with pytest.raises(TypeError, match="no field"):
        construct(AuditEntry, actor="u1", colour="red")
