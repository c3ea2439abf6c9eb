"""Notify in bulk (issue 15): a batch of events is one transaction, yet each event is handled
exactly once and one bad event never holds back the others; a broadcast reaches every inbox once;
e-mail goes over one reused SMTP connection that is replaced when it dies; claims and marks of
deliveries are batched and fenced on the attempt."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import sqlalchemy as sa
from aiosmtpd.controller import Controller

from steward.kit.db import Database, utcnow
from steward.notify.channels.base import Outgoing
from steward.notify.channels.dispatch import Channels
from steward.notify.deliveries import service, timing
from steward.notify.deliveries.models import Delivery
from steward.notify.subscribers import EventConsumer
from steward.notify.testing import (
    Notify,
    SmtpSink,
    generic_event,
    matter_overdue,
    migrate,
    notify_settings,
    overdue_rules,
    scenario,
)
from steward.registry.testing import Registry


def _consumer(notify: Notify) -> EventConsumer:
    return EventConsumer(notify.db, notify.runtime.ctx.registry, notify.settings)


async def _scalar(db: Database, sql: str, **params: Any) -> Any:
    async with db.read() as session:
        return (await session.execute(sa.text(sql), params)).scalar_one()


async def test_a_batch_is_handled_once_per_event_and_a_bad_event_holds_back_no_other(
    notify: Notify, registry: Registry
) -> None:
    sc = await scenario(registry, tag="batch")
    good = [
        matter_overdue(tenant=sc.tenant, project_id=sc.project_id, unit_id=sc.unit_id, title=f"批量{i}")
        for i in range(5)
    ]
    # PostgreSQL refuses a NUL character in text: this event's rows can never be written
    bad = matter_overdue(tenant=sc.tenant, project_id=sc.project_id, unit_id=sc.unit_id, title="坏\x00事项")
    batch = [good[0], good[1], bad, good[2], good[2], good[3], good[4]]  # good[2] twice in the batch
    consumer = _consumer(notify)

    outcomes = await consumer.handle_batch(batch)

    assert [o.error is None for o in outcomes] == [True, True, False, True, True, True, True]
    ids = [e.id for e in good]
    sql = "SELECT count(*) FROM inbox_messages WHERE event_id = ANY(:ids)"
    assert await _scalar(notify.db, sql, ids=ids) == 5  # one message per event, the duplicate too
    assert await _scalar(notify.db, "SELECT count(*) FROM inbox_messages WHERE event_id = :e", e=bad.id) == 0
    # the bad event left no de-duplication row: its redelivery is handled again, not skipped
    dedup = "SELECT count(*) FROM steward_inbox WHERE consumer = :c AND event_id = :e"
    assert await _scalar(notify.db, dedup, c=notify.settings.notify_consumer, e=uuid.UUID(bad.id)) == 0
    emails = "SELECT count(*) FROM deliveries WHERE event_id = ANY(:ids) AND channel = 'email'"
    assert await _scalar(notify.db, emails, ids=ids) == 5

    # the whole batch redelivered (a crash before the acks): nothing more is written
    again = await consumer.handle_batch(good)
    assert all(o.error is None for o in again)
    assert await _scalar(notify.db, sql, ids=ids) == 5
    assert await _scalar(notify.db, emails, ids=ids) == 5
    succeeded = "SELECT count(*) FROM steward_outbox WHERE type = 'steward.delivery.succeeded.v1'"
    succeeded += " AND payload->'data'->>'event_id' = ANY(:ids) AND payload->'data'->>'channel' = 'inbox'"
    assert await _scalar(notify.db, succeeded, ids=ids) == 5  # one delivery.succeeded per inbox message


async def test_a_broadcast_reaches_every_inbox_once(notify: Notify, registry: Registry) -> None:
    rules = overdue_rules()
    rules["notify"]["routes"].append(
        {"event_type": "ranking.published", "recipients": ["enterprise_contact"], "channels": ["inbox"]}
    )
    sc = await scenario(registry, rules=rules, tag="broadcast")
    subjects = [f"u-contact-{sc.tenant}-{i:04d}" for i in range(1500)]
    event = generic_event(
        sc.tenant, "ranking.published", {"ranking": "月度排名", "enterprise_contact_subjects": subjects}
    )
    consumer = _consumer(notify)
    (outcome,) = await consumer.handle_batch([event])
    assert outcome.error is None
    rows = "SELECT count(*), count(DISTINCT recipient_subject) FROM inbox_messages WHERE event_id = :e"
    async with notify.db.read() as session:
        total, distinct = (await session.execute(sa.text(rows), {"e": event.id})).one()
    assert (total, distinct) == (1500, 1500)
    await consumer.handle(event)  # delivered again
    assert (
        await _scalar(notify.db, "SELECT count(*) FROM inbox_messages WHERE event_id = :e", e=event.id)
        == 1500
    )
    sent = "SELECT count(*) FROM deliveries WHERE event_id = :e AND channel = 'inbox' AND status = 'sent'"
    assert await _scalar(notify.db, sent, e=event.id) == 1500


def _outgoing(address: str, n: int) -> Outgoing:
    return Outgoing(
        delivery_id=uuid.uuid4(),
        attempt_id=uuid.uuid4(),
        event_id=f"e-{n}",
        event_type="matter.escalated",
        tenant="210102",
        channel="email",
        address=address,
        recipient_name="李代办",
        title=f"【升级督办】施工许可办理受阻 {n}",
        body="消防设计审查意见未反馈。",
        payload={"html": "<p>消防设计审查意见未反馈。</p>"},
    )


async def test_email_goes_over_a_few_reused_connections_and_a_dead_one_is_replaced(smtp: SmtpSink) -> None:
    settings = notify_settings("postgresql+asyncpg://unused/x", "nats://127.0.0.1:1", "127.0.0.1:1")
    sink = SmtpSink()
    sink.controller.start()
    settings = settings.model_copy(update={"smtp_port": sink.port})
    assert settings.smtp_connections == 4
    channels = Channels(settings)
    address = f"bulk-{uuid.uuid4().hex[:8]}@example.gov.cn"
    try:
        outs = [_outgoing(address, i) for i in range(30)]
        await asyncio.gather(*(channels.send(o) for o in outs))
        assert len(sink.to(address)) == 30
        assert channels.smtp.connects == 4  # thirty at once: every connection opened, none more
        got = {m["Message-ID"] for m in sink.to(address)}
        assert got == {f"<{o.delivery_id}@{settings.smtp_message_id_domain}>" for o in outs}
        assert "李代办" in str(sink.to(address)[0]["To"]) and "升级督办" in str(
            sink.to(address)[0]["Subject"]
        )
        for i in range(5):  # one after another: the connection given back last, reused
            await channels.send(_outgoing(address, 40 + i))
        assert channels.smtp.connects == 4

        # the server restarts: the reused connection is dead, the next message opens a new one
        sink.controller.stop()
        restarted = Controller(sink, hostname="127.0.0.1", port=sink.port)
        restarted.start()
        try:
            await channels.send(_outgoing(address, 99))
        finally:
            restarted.stop()
        assert len(sink.to(address)) == 36
        assert channels.smtp.connects == 5
    finally:
        await channels.close()
        if sink.controller.loop.is_running():
            sink.controller.stop()


async def test_a_trickle_of_email_and_a_pool_of_one_keep_to_one_connection(smtp: SmtpSink) -> None:
    settings = notify_settings("postgresql+asyncpg://unused/x", "nats://127.0.0.1:1", "127.0.0.1:1")
    address = f"one-{uuid.uuid4().hex[:8]}@example.gov.cn"
    trickle = Channels(settings.model_copy(update={"smtp_port": smtp.port}))
    single = Channels(settings.model_copy(update={"smtp_port": smtp.port, "smtp_connections": 1}))
    try:
        for i in range(10):
            await trickle.send(_outgoing(address, i))
        await asyncio.gather(*(single.send(_outgoing(address, 100 + i)) for i in range(20)))
        assert len(smtp.to(address)) == 30
        assert (trickle.smtp.connects, single.smtp.connects) == (1, 1)
    finally:
        await trickle.close()
        await single.close()


async def test_claims_and_marks_are_batched_and_fenced_on_the_attempt(make_database: Any) -> None:
    db_url = await asyncio.to_thread(migrate, make_database("notify_bulk"))
    settings = notify_settings(db_url, "nats://127.0.0.1:1", "127.0.0.1:1")
    db = Database(db_url)
    now = utcnow()
    rows = [
        Delivery(
            tenant="210102",
            tenant_path="210100/210102",
            event_id=str(uuid.uuid4()),
            event_type="matter.escalated",
            event_time=now,
            recipient=f"person:{i}",
            channel="email",
            address=f"p{i}@example.gov.cn",
            title=f"升级{i}",
            due_at=now,
        )
        for i in range(40)
    ]
    try:
        async with db.transaction() as session:
            session.add_all(rows)
        limiter = timing.RateLimiter({}, lambda: 0.0)
        async with db.transaction() as session:
            claimed = await service.claim(
                session, now=utcnow(), limit=100, settings=settings, limiter=limiter
            )
        assert len(claimed) == 40
        assert {c.outgoing.delivery_id for c in claimed} == {r.id for r in rows}
        assert all(c.attempts == 1 for c in claimed)
        started = "SELECT count(*) FROM delivery_attempts WHERE outcome = 'started'"
        assert await _scalar(db, started) == 40
        async with db.transaction() as session:  # claimed rows are not claimed again
            assert (
                await service.claim(session, now=utcnow(), limit=100, settings=settings, limiter=limiter)
                == []
            )

        # one attempt lost its lease to another meanwhile: its result does not count
        stale = claimed[0].outgoing
        async with db.transaction() as session:
            await session.execute(
                sa.text("UPDATE deliveries SET attempt_id = :a WHERE id = :i"),
                {"a": uuid.uuid4(), "i": stale.delivery_id},
            )
        async with db.transaction() as session:
            marked = await service.mark_sent_many(
                session, outs=[c.outgoing for c in claimed], now=utcnow(), settings=settings
            )
        assert marked == {c.outgoing.delivery_id for c in claimed[1:]}
        assert await _scalar(db, "SELECT count(*) FROM deliveries WHERE status = 'sent'") == 39
        assert await _scalar(db, "SELECT count(*) FROM delivery_attempts WHERE outcome = 'ok'") == 40
        events = "SELECT count(*) FROM steward_outbox WHERE type = 'steward.delivery.succeeded.v1'"
        assert await _scalar(db, events) == 39
        subject = "SELECT DISTINCT subject FROM steward_outbox"
        assert await _scalar(db, subject) == "steward.events.210102.delivery.succeeded"
    finally:
        await db.dispose()


async def test_a_broadcast_renders_once_unless_the_template_reads_the_recipient(
    notify: Notify, registry: Registry
) -> None:
    """Messages are rendered once per distinct content: a template that reads ``recipient`` still
    greets each person by name; one that does not gives everyone the same text."""
    from steward.notify.testing import auth

    rules = overdue_rules()
    rules["notify"]["routes"].append(
        {"event_type": "survey.sent", "recipients": ["enterprise_contact"], "channels": ["inbox"]}
    )
    sc = await scenario(registry, rules=rules, tag="personal")
    body = {"subject": "测评邀请", "body": "{{ recipient.name }}，请参加满意度测评。"}
    admin = auth(sc.tenant, "tenant_admin")
    r = await notify.http.put(f"/v1/templates/{sc.tenant}/survey.sent/zh-CN", json=body, headers=admin)
    assert r.status_code == 200, r.text
    subjects = [f"u-survey-{sc.tenant}-{i}" for i in range(50)]
    personal = generic_event(sc.tenant, "survey.sent", {"enterprise_contact_subjects": subjects})
    plain = generic_event(sc.tenant, "matter.resolved", {"reporter_subject": subjects[:1], "title": "已办结"})
    outcomes = await _consumer(notify).handle_batch([personal, plain])
    assert all(o.error is None for o in outcomes)
    async with notify.db.read() as session:
        bodies = dict(
            (
                await session.execute(
                    sa.text("SELECT recipient_subject, body FROM inbox_messages WHERE event_id = :e"),
                    {"e": personal.id},
                )
            ).all()
        )
    assert len(bodies) == 50
    assert all(b == f"{s}，请参加满意度测评。" for s, b in bodies.items())
