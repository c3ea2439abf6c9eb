"""The notify consumer reads the shared ``steward.events.>`` stream: an event of a tenant the registry
does not know (or of something that is not a tenant code at all) is acknowledged once, counted in
``steward_notify_unroutable_events_total``, and neither redelivered nor dead-lettered."""

from __future__ import annotations

import secrets

import nats
import pytest
import sqlalchemy as sa

from steward.kit.bus import DLQ_PREFIX, DLQ_STREAM
from steward.notify import metrics
from steward.notify.testing import Notify, auth, matter_overdue, publish, scenario, wait_for
from steward.registry.testing import Registry


def _unroutable() -> float:
    return float(metrics.UNROUTABLE.labels("matter.overdue")._value.get())


async def _bus_state(nats_url: str, notify: Notify) -> tuple[int, int, int]:
    """(messages in notify's dead-letter subject, consumer redeliveries, consumer acks pending)."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        dlq = await js.stream_info(DLQ_STREAM, subjects_filter=f"{DLQ_PREFIX}.>")
        dead = (dlq.state.subjects or {}).get(f"{DLQ_PREFIX}.{notify.settings.notify_consumer}", 0)
        info = await js.consumer_info(notify.settings.events_stream, notify.settings.notify_consumer)
        return dead, info.num_redelivered, info.num_ack_pending
    finally:
        await nc.close()


@pytest.mark.parametrize(
    "tenant", ["99" + "".join(secrets.choice("0123456789") for _ in range(10)), "not-a-tenant"]
)
async def test_event_of_unknown_tenant_is_acked_once_and_counted(
    notify: Notify, registry: Registry, nats_url: str, tenant: str
) -> None:
    sc = await scenario(registry, tag="unroutable")
    before = _unroutable()
    dead_before, redelivered_before, _ = await _bus_state(nats_url, notify)

    ghost = matter_overdue(tenant=tenant, project_id=sc.project_id, unit_id=sc.unit_id)
    await publish(nats_url, ghost)

    async def counted() -> bool:
        return _unroutable() >= before + 1

    assert await wait_for(counted)

    # a routable event published afterwards is handled: the consumer moved past the ghost
    sentinel = matter_overdue(tenant=sc.tenant, project_id=sc.project_id, unit_id=sc.unit_id, title="哨兵")
    await publish(nats_url, sentinel)
    agent = auth(sc.tenant, "agent", sub=sc.agent["subject"])

    async def sentinel_seen() -> bool:
        items = (await notify.http.get("/v1/inbox", headers=agent)).json()["items"]
        return any(m["event_id"] == sentinel.id for m in items)

    assert await wait_for(sentinel_seen)

    # no redelivery: the count stays at one over the window a NACK's backoff would redeliver in
    async def counted_again() -> bool:
        return _unroutable() > before + 1

    assert not await wait_for(counted_again, within=1.5)
    assert _unroutable() == before + 1
    dead_after, redelivered_after, pending = await _bus_state(nats_url, notify)
    assert dead_after == dead_before  # nothing dead-lettered
    assert redelivered_after == redelivered_before
    assert pending == 0
    async with notify.db.read() as session:
        n = (
            await session.execute(
                sa.text("SELECT count(*) FROM deliveries WHERE event_id = :e"), {"e": ghost.id}
            )
        ).scalar_one()
        m = (
            await session.execute(
                sa.text("SELECT count(*) FROM inbox_messages WHERE event_id = :e"), {"e": ghost.id}
            )
        ).scalar_one()
    assert n == 0 and m == 0


def test_own_events_are_recognised_by_subject() -> None:
    from steward.notify.subscribers import own_events

    skip = own_events("steward.events")
    assert skip("steward.events.210112.delivery.sent")
    assert skip("steward.events.210112001.delivery.failed")
    assert not skip("steward.events.210112.matter.overdue")
    assert not skip("steward.events.delivery.matter.overdue")  # a (bogus) tenant named like it
    assert not skip("steward.events.210112")


async def _consumer_and_stream(nats_url: str, notify: Notify) -> tuple[int, int, int]:
    """(messages delivered to notify's consumer, its pending + unacked, the stream's last sequence)."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.consumer_info(notify.settings.events_stream, notify.settings.notify_consumer)
        last = (await js.stream_info(notify.settings.events_stream)).state.last_seq
        return info.delivered.consumer_seq, info.num_pending + info.num_ack_pending, last
    finally:
        await nc.close()


async def test_own_delivery_events_are_left_out_by_the_subject_filter(
    notify: Notify, registry: Registry, nats_url: str
) -> None:
    """Notify does not consume its own ``delivery.*`` events: its consumer's subject filter leaves
    them out, so JetStream never delivers them (a body that is not even an event is not decoded, not
    dead-lettered); everything else on the stream is delivered exactly once."""
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().consumer_info(
            notify.settings.events_stream, notify.settings.notify_consumer
        )
    finally:
        await nc.close()
    filters = info.config.filter_subjects or [info.config.filter_subject]
    assert "steward.events.*.matter.>" in filters
    assert not any(".delivery." in str(f) for f in filters), filters
    assert "steward.events.>" not in filters

    sc = await scenario(registry, tag="own")

    async def settled() -> bool:
        return (await _consumer_and_stream(nats_url, notify))[1] == 0

    assert await wait_for(settled)
    delivered_before, _, last_before = await _consumer_and_stream(nats_url, notify)
    dead_before, _, _ = await _bus_state(nats_url, notify)
    nc = await nats.connect(nats_url)
    try:
        for subject, body in (("delivery.sent", b"not an event"), ("delivery.succeeded", b"{}")):
            await nc.jetstream().publish(
                f"steward.events.210112.{subject}", body, headers={"Nats-Msg-Id": secrets.token_hex(8)}
            )
    finally:
        await nc.close()
    sentinel = matter_overdue(tenant=sc.tenant, project_id=sc.project_id, unit_id=sc.unit_id, title="哨兵")
    await publish(nats_url, sentinel)
    agent = auth(sc.tenant, "agent", sub=sc.agent["subject"])

    async def sentinel_seen() -> bool:
        items = (await notify.http.get("/v1/inbox", headers=agent)).json()["items"]
        return any(m["event_id"] == sentinel.id for m in items)

    assert await wait_for(sentinel_seen)
    assert await wait_for(settled)
    delivered_after, _, last_after = await _consumer_and_stream(nats_url, notify)
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        subjects = [
            (await js.get_msg(notify.settings.events_stream, seq)).subject
            for seq in range(last_before + 1, last_after + 1)
        ]
    finally:
        await nc.close()
    own = [s for s in subjects if ".delivery." in s]
    assert len(own) >= 2  # the two above (and the sentinel's delivery.succeeded once relayed)
    assert delivered_after - delivered_before == len(subjects) - len(own)  # none of them delivered
    dead_after, _, _ = await _bus_state(nats_url, notify)
    assert dead_after == dead_before
