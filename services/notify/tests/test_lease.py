"""A claimed delivery that waited in the worker's queue past its lease is not sent: another attempt
claimed it again meanwhile and sends it. Without the check both attempts sent the e-mail (seen in
the fault suite under load: a lease expiring while rows waited for a free sender)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from steward.kit.db import Database, utcnow
from steward.notify.channels.dispatch import Channels
from steward.notify.deliveries import service
from steward.notify.deliveries.models import Delivery
from steward.notify.deliveries.worker import DeliveryWorker
from steward.notify.testing import SmtpSink, migrate, notify_settings


def _email(address: str, recipient: str) -> Delivery:
    """A pending e-mail delivery of a filing, due now."""
    return Delivery(
        tenant="210102",
        tenant_path="210100.210102",
        event_id=str(uuid.uuid4()),
        event_type="matter.filed",
        event_time=utcnow(),
        recipient=recipient,
        channel="email",
        address=address,
        title="新事项：施工用电接入受阻",
        body="请及时处理。",
    )


async def _claim(db: Database, worker: DeliveryWorker) -> service.Claimed:
    async with db.transaction() as session:
        claimed = await service.claim(
            session, now=utcnow(), limit=10, settings=worker.settings, limiter=worker.limiter
        )
    assert len(claimed) == 1
    return claimed[0]


async def test_a_lease_lost_while_queued_is_not_sent_twice(make_database: Any, smtp: SmtpSink) -> None:
    db_url = await asyncio.to_thread(migrate, make_database("notify_lease"))
    settings = notify_settings(db_url, "nats://127.0.0.1:1", "127.0.0.1:1", smtp_port=smtp.port)
    db = Database(db_url)
    channels = Channels(settings)
    worker = DeliveryWorker(db, settings, channels)
    address = f"lease-{uuid.uuid4().hex[:8]}@example.gov.cn"
    row = _email(address, "person:lease")
    try:
        async with db.transaction() as session:
            session.add(row)
        first = await _claim(db, worker)
        # the first attempt waits for a sender past its lease; another worker claims the row again
        async with db.transaction() as session:
            await session.execute(
                sa.update(Delivery).where(col(Delivery.id) == row.id).values(due_at=utcnow())
            )
        second = await _claim(db, worker)
        assert second.outgoing.attempt_id != first.outgoing.attempt_id

        await worker._deliver(dataclasses.replace(first, claimed_at=0.0))  # queued for ages
        await worker._deliver(second)

        mails = smtp.to(address)
        assert len(mails) == 1
        async with db.read() as session:
            status = (
                await session.execute(sa.text("SELECT status FROM deliveries WHERE id = :i"), {"i": row.id})
            ).scalar_one()
            outcomes = (
                await session.execute(
                    sa.text(
                        "SELECT number, outcome FROM delivery_attempts WHERE delivery_id = :i ORDER BY number"
                    ),
                    {"i": row.id},
                )
            ).all()
        assert status == "sent"
        assert [tuple(o) for o in outcomes] == [(1, "error"), (2, "ok")]
    finally:
        await channels.close()
        await db.dispose()


async def test_mail_queued_behind_a_slow_server_past_the_lease_is_sent_once(
    make_database: Any, smtp: SmtpSink
) -> None:
    """Sixteen e-mails share the one SMTP connection; the server takes 0.25 s a message, so the last
    waits about 4 s for it — past the 1.5 s lease. The worker's heartbeat keeps the leases of what
    it holds: nothing is claimed a second time, every message arrives once. (Before the heartbeat
    the worker claimed its own queued rows again when their leases ran out and sent them twice.)"""
    db_url = await asyncio.to_thread(migrate, make_database("notify_lease_queue"))
    settings = notify_settings(
        db_url, "nats://127.0.0.1:1", "127.0.0.1:1", smtp_port=smtp.port, delivery_lease_seconds=1.5
    )
    db = Database(db_url)
    channels = Channels(settings)
    worker = DeliveryWorker(db, settings, channels)
    tag = uuid.uuid4().hex[:8]
    addresses = [f"queue-{tag}-{i}@example.gov.cn" for i in range(16)]
    smtp.delay = 0.25
    runner = asyncio.create_task(worker.run())
    try:
        async with db.transaction() as session:
            for i, address in enumerate(addresses):
                session.add(_email(address, f"person:queue-{i}"))
        worker.wake()
        deadline = asyncio.get_running_loop().time() + 30
        while sum(len(smtp.to(a)) > 0 for a in addresses) < len(addresses):
            assert asyncio.get_running_loop().time() < deadline, "not every e-mail arrived"
            await asyncio.sleep(0.2)
        await asyncio.sleep(2 * settings.delivery_lease_seconds)  # a second claim would send by now
        assert [len(smtp.to(a)) for a in addresses] == [1] * len(addresses)
        async with db.read() as session:
            rows = (
                await session.execute(
                    sa.text("SELECT status, attempts FROM deliveries WHERE address LIKE :p"),
                    {"p": f"queue-{tag}-%"},
                )
            ).all()
        assert sorted(tuple(r) for r in rows) == [("sent", 1)] * len(addresses)
    finally:
        smtp.delay = 0.0
        await worker.stop()
        runner.cancel()
        await channels.close()
        await db.dispose()


async def test_heartbeat_extends_held_leases_and_marks_a_taken_one_run_out(make_database: Any) -> None:
    db_url = await asyncio.to_thread(migrate, make_database("notify_heartbeat"))
    settings = notify_settings(db_url, "nats://127.0.0.1:1", "127.0.0.1:1", delivery_lease_seconds=2.0)
    db = Database(db_url)
    worker = DeliveryWorker(db, settings, Channels(settings))
    rows = [_email(f"hb-{i}@example.gov.cn", f"person:hb-{i}") for i in range(2)]
    try:
        async with db.transaction() as session:
            session.add_all(rows)
        async with db.transaction() as session:
            claimed = await service.claim(
                session, now=utcnow(), limit=10, settings=settings, limiter=worker.limiter
            )
        kept, taken = sorted(claimed, key=lambda c: c.outgoing.address)
        leases = {
            c.outgoing.delivery_id: worker.held.take(c.outgoing.delivery_id, c.outgoing.attempt_id, 0.0)
            for c in claimed
        }
        async with db.transaction() as session:  # another attempt claimed this row meanwhile
            await session.execute(
                sa.update(Delivery)
                .where(col(Delivery.id) == taken.outgoing.delivery_id)
                .values(attempt_id=uuid.uuid4())
            )
        before = utcnow()
        assert await worker.held.heartbeat(before) == 1
        assert leases[kept.outgoing.delivery_id].remaining() > 1.5
        assert leases[taken.outgoing.delivery_id].remaining() < 0
        async with db.read() as session:
            due = (
                await session.execute(
                    sa.text("SELECT due_at FROM deliveries WHERE id = :i"), {"i": kept.outgoing.delivery_id}
                )
            ).scalar_one()
        assert due >= before + timedelta(seconds=2.0)
    finally:
        await worker.channels.close()
        await db.dispose()
