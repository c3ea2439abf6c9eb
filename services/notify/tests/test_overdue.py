"""Must show: a matter becoming overdue notifies its responsible unit's agent in the inbox and by
email (real SMTP on loopback), once — even when the event is delivered twice."""

from __future__ import annotations

import sqlalchemy as sa

from steward.notify.testing import (
    Notify,
    SmtpSink,
    auth,
    matter_overdue,
    publish,
    scenario,
    wait_for,
)
from steward.registry.testing import EventTap, Registry


async def _inbox(notify: Notify, subject: str, tenant: str) -> list[dict]:
    r = await notify.http.get("/v1/inbox", headers=auth(tenant, "agent", sub=subject))
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_overdue_reaches_agent_in_inbox_and_email_once(
    notify: Notify, registry: Registry, smtp: SmtpSink, nats_url: str
) -> None:
    sc = await scenario(registry)
    email, subject = sc.agent["email"], sc.agent["subject"]
    event = matter_overdue(tenant=sc.tenant, project_id=sc.project_id, unit_id=sc.unit_id)
    await publish(nats_url, event)

    items = await wait_for(lambda: _inbox(notify, subject, sc.tenant))
    assert len(items) == 1
    assert items[0]["event_id"] == event.id and items[0]["event_type"] == "matter.overdue"
    assert "逾期" in items[0]["title"] and "施工许可办理受阻" in items[0]["title"]
    assert "铁西重装产业园二期" in items[0]["title"]  # project name resolved through the registry

    async def mails() -> list:
        return smtp.to(email)

    got = await wait_for(mails)
    assert len(got) == 1
    msg = got[0]
    assert "李代办" in str(msg["To"])
    assert msg["X-Steward-Event-Id"] == event.id
    assert msg["Message-ID"].endswith("@steward.notify>")

    # the same event again: a JetStream redelivery (past the duplicate window) and a second publish
    await publish(nats_url, event, msg_id=f"{event.id}-redelivered")
    await publish(nats_url, event, msg_id=f"{event.id}-again")
    sentinel = matter_overdue(
        tenant=sc.tenant, project_id=sc.project_id, unit_id=sc.unit_id, title="哨兵事项"
    )
    await publish(nats_url, sentinel)

    async def sentinel_seen() -> bool:
        return any(m["event_id"] == sentinel.id for m in await _inbox(notify, subject, sc.tenant))

    assert await wait_for(sentinel_seen)
    assert await wait_for(lambda: _count_mails(smtp, email, 2))
    items = await _inbox(notify, subject, sc.tenant)
    assert [m["event_id"] for m in items].count(event.id) == 1
    firsts = [m for m in smtp.to(email) if m["X-Steward-Event-Id"] == event.id]
    assert len(firsts) == 1

    # the steward (not on the route) got nothing
    assert smtp.to(sc.steward["email"]) == []
    # exactly one delivery row per channel for the event, both sent; latency from the event's time
    async with notify.db.read() as session:
        rows = (
            await session.execute(
                sa.text(
                    "SELECT channel, status, extract(epoch FROM sent_at - event_time) "
                    "FROM deliveries WHERE event_id = :e ORDER BY channel"
                ),
                {"e": event.id},
            )
        ).all()
    assert [(r[0], r[1]) for r in rows] == [("email", "sent"), ("inbox", "sent")]
    print(f"\nlatency from event time: {', '.join(f'{r[0]}={float(r[2]):.3f}s' for r in rows)}")

    # delivery.succeeded events went out through the outbox
    events = await EventTap(nats_url).collect(f"steward.events.{sc.tenant}.delivery.succeeded", expect=4)
    mine = [e for e in events if e["data"]["event_id"] == event.id]
    assert sorted(e["data"]["channel"] for e in mine) == ["email", "inbox"]
    assert all("@" not in e["data"]["recipient"] for e in mine)  # no addresses in events


async def _count_mails(smtp: SmtpSink, email: str, n: int) -> bool:
    return len(smtp.to(email)) >= n


async def test_inbox_unread_count_and_mark_read(notify: Notify, registry: Registry, nats_url: str) -> None:
    sc = await scenario(registry, tag="inbox")
    subject = sc.agent["subject"]
    hdr = auth(sc.tenant, "agent", sub=subject)
    for title in ("事项一", "事项二"):
        await publish(
            nats_url,
            matter_overdue(tenant=sc.tenant, project_id=sc.project_id, unit_id=sc.unit_id, title=title),
        )

    async def two() -> bool:
        r = await notify.http.get("/v1/inbox/unread-count", headers=hdr)
        return r.json()["unread"] == 2

    assert await wait_for(two)
    items = (await notify.http.get("/v1/inbox?unread=true", headers=hdr)).json()["items"]
    r = await notify.http.post(f"/v1/inbox/{items[0]['id']}/read", headers=hdr)
    assert r.status_code == 200 and r.json()["read_at"]
    assert (await notify.http.get("/v1/inbox/unread-count", headers=hdr)).json()["unread"] == 1
    # somebody else cannot read or mark it
    other = auth(sc.tenant, "agent", sub="u-someone-else")
    assert (await notify.http.post(f"/v1/inbox/{items[1]['id']}/read", headers=other)).status_code == 404
    assert (await notify.http.get("/v1/inbox", headers=other)).json()["items"] == []
    assert (await notify.http.post("/v1/inbox/read-all", headers=hdr)).json()["marked"] == 1
    assert (await notify.http.get("/v1/inbox/unread-count", headers=hdr)).json()["unread"] == 0
    assert (await notify.http.get("/v1/inbox")).status_code == 401
