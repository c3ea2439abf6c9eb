"""Must show: notify killed with -9 mid-delivery and restarted sends once.

The service runs as a child process (``python -m steward.notify serve``) with its own database,
consumer and SMTP server. A fault-injection pause holds the worker between its committed claim and
the SMTP call; the test kills it there with SIGKILL, restarts it and counts what the SMTP server
received. A second test kills it *after* the SMTP server accepted the message and before the
outcome was recorded — the documented residual window: the message is sent again with the same
Message-ID (at-least-once, deduplicable), never lost."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa

from steward.kit.db import Database
from steward.notify.testing import (
    NotifyProcess,
    SmtpSink,
    matter_overdue,
    migrate,
    notify_settings,
    publish,
    scenario,
    wait_for,
)
from steward.registry.testing import Registry


async def _rows(db: Database, event_id: str) -> dict[str, tuple[str, int]]:
    async with db.read() as session:
        rows = (
            await session.execute(
                sa.text("SELECT channel, status, attempts FROM deliveries WHERE event_id = :e"),
                {"e": event_id},
            )
        ).all()
    return {r[0]: (r[1], int(r[2])) for r in rows}


async def _inbox_count(db: Database, event_id: str) -> int:
    async with db.read() as session:
        return int(
            (
                await session.execute(
                    sa.text("SELECT count(*) FROM inbox_messages WHERE event_id = :e"), {"e": event_id}
                )
            ).scalar_one()
        )


async def _crash_and_restart(
    make_database: Any, nats_url: str, registry: Registry, *, pause: str, consumer: str
) -> tuple[SmtpSink, Database, str, str, dict[str, tuple[str, int]], int]:
    db_url = await asyncio.to_thread(migrate, make_database("notify_crash"))
    db = Database(db_url)
    with SmtpSink() as smtp:
        settings = notify_settings(
            db_url,
            nats_url,
            registry.grpc_target,
            smtp_port=smtp.port,
            notify_consumer=consumer,
            delivery_lease_seconds=3.0,
        )
        sc = await scenario(registry, tag=consumer)
        email = sc.agent["email"]
        first = NotifyProcess(settings, **{pause: "30"})
        first.start()
        try:
            await first.wait_ready()
            event = matter_overdue(tenant=sc.tenant, project_id=sc.project_id, unit_id=sc.unit_id)
            await publish(nats_url, event)

            async def claimed() -> bool:
                rows = await _rows(db, event.id)
                return rows.get("email", ("", 0))[0] == "sending"

            assert await wait_for(claimed, within=60)
            if pause.endswith("SEND_SECONDS"):
                assert await wait_for(lambda: _mails(smtp, email, 1), within=20)
            before = len(smtp.to(email))
            first.kill9()
        finally:
            first.terminate()
        assert await _inbox_count(db, event.id) == 1  # the inbox row committed with the event
        second = NotifyProcess(settings)
        second.start()
        try:
            await second.wait_ready()

            async def sent() -> bool:
                return (await _rows(db, event.id)).get("email", ("", 0))[0] == "sent"

            assert await wait_for(sent, within=60)
            # the same event delivered again after the restart changes nothing
            await publish(nats_url, event, msg_id=f"{event.id}-after-restart")
            sentinel = matter_overdue(
                tenant=sc.tenant, project_id=sc.project_id, unit_id=sc.unit_id, title="哨兵"
            )

            async def sentinel_done() -> bool:
                return (await _rows(db, sentinel.id)).get("email", ("", 0))[0] == "sent"

            await publish(nats_url, sentinel)
            assert await wait_for(sentinel_done, within=60)
            rows = await _rows(db, event.id)
            inbox = await _inbox_count(db, event.id)
        finally:
            second.terminate()
            await db.dispose()
        assert inbox == 1
        return smtp, db, email, event.id, rows, before


async def _mails(smtp: SmtpSink, email: str, n: int) -> bool:
    return len(smtp.to(email)) >= n


async def test_kill9_between_claim_and_send_sends_once(
    make_database: Any, nats_url: str, registry: Registry
) -> None:
    smtp, _db, email, event_id, rows, before = await _crash_and_restart(
        make_database,
        nats_url,
        registry,
        pause="STEWARD_FAULT_PAUSE_AFTER_CLAIM_SECONDS",
        consumer="notify_crash1",
    )
    assert before == 0  # killed before the SMTP call
    mails = [m for m in smtp.to(email) if m["X-Steward-Event-Id"] == event_id]
    assert len(mails) == 1
    assert rows["email"] == ("sent", 2)  # the claim of the killed worker counted as an attempt
    assert rows["inbox"][0] == "sent"


async def test_kill9_after_smtp_accepted_resends_with_same_message_id(
    make_database: Any, nats_url: str, registry: Registry
) -> None:
    smtp, _db, email, event_id, rows, before = await _crash_and_restart(
        make_database,
        nats_url,
        registry,
        pause="STEWARD_FAULT_PAUSE_AFTER_SEND_SECONDS",
        consumer="notify_crash2",
    )
    assert before == 1
    mails = [m for m in smtp.to(email) if m["X-Steward-Event-Id"] == event_id]
    # the residual at-least-once window: sent again, with the same Message-ID (receivers fold it)
    assert len(mails) == 2
    assert len({m["Message-ID"] for m in mails}) == 1
    assert rows["email"] == ("sent", 2)
