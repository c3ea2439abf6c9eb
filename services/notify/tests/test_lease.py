"""A claimed delivery that waited in the worker's queue past its lease is not sent: another attempt
claimed it again meanwhile and sends it. Without the check both attempts sent the e-mail (seen in
the fault suite under load: a lease expiring while rows waited for a free sender)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from steward.kit.db import Database, utcnow
from steward.notify.channels.dispatch import Channels
from steward.notify.deliveries import service
from steward.notify.deliveries.models import Delivery
from steward.notify.deliveries.worker import DeliveryWorker
from steward.notify.testing import SmtpSink, migrate, notify_settings


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
    now = utcnow()
    row = Delivery(
        tenant="210102",
        tenant_path="210100.210102",
        event_id=str(uuid.uuid4()),
        event_type="matter.filed",
        event_time=now,
        recipient="person:lease",
        channel="email",
        address=address,
        title="新事项：施工用电接入受阻",
        body="请及时处理。",
    )
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
