"""Notify in bulk, as users get it: ``python -m steward.notify serve`` as its own process, on a NATS
server of this module's own (so it sees only its own events — never another bench's backlog), a
real registry (in this process) and a real SMTP server (aiosmtpd, a thread of this process).

Rows, each with the same run's reference and the ratio where one applies, and notify's CPU
(``/proc/<pid>/stat``) per item:

- **inbox messages/s**: ``matter.overdue`` events published at once, each to one person's inbox;
  reference: a plain pull consumer doing one ``INSERT`` + ack per message (asyncpg, same PostgreSQL
  and NATS) on the same number of messages;
- **e-mails/s** to the aiosmtpd sink (claim, send over a few reused SMTP connections, record sent);
  reference: aiosmtplib sending the same number over one connection, no database;
- **e-mails/s to a relay taking 10 ms a message** (the sink waits that long before it accepts each):
  what one connection could not carry past 100/s;
- **event → inbox latency** p50/p99 at a steady 50 events/s (event time → the inbox row's time);
- **broadcast**: one ``ranking.published`` to 10,000 enterprise contacts, until every inbox has it;
- **idle CPU** of the notify process with nothing to do.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import asyncpg
import nats
import nats.js.api as js_api

from bench.common import BenchContext, Row, percentile
from steward.devtools.natsinfra import LocalNats
from steward.events.envelope import CloudEvent
from steward.kit.db import asyncpg_dsn
from steward.notify.settings import NotifySettings
from steward.notify.testing import (
    SECRET,
    NotifyProcess,
    SmtpSink,
    generic_event,
    matter_overdue,
    migrate,
    scenario,
)
from steward.registry.testing import migrate as migrate_registry
from steward.registry.testing import running_registry

INBOX_EVENTS = 5000
EMAILS = 2000
RELAY_EMAILS = 1000
RELAY_SECONDS = 0.01  # per message, as a relay across a network might
STEADY_RATE = 50.0  # events per second
STEADY_SECONDS = 20.0
BROADCAST = 10_000
IDLE_SECONDS = 10.0
TICK = os.sysconf("SC_CLK_TCK")


def _rules() -> dict[str, Any]:
    from steward.rules import preset_override

    doc = preset_override("anyang")
    doc["notify"] = {
        "routes": [
            {"event_type": "matter.overdue", "recipients": ["assignee"], "channels": ["inbox"]},
            {
                "event_type": "matter.escalated",
                "recipients": ["assignee"],
                "channels": ["email"],
                "severity": "warning",
            },
            {"event_type": "ranking.published", "recipients": ["enterprise_contact"], "channels": ["inbox"]},
        ],
        "quiet_hours": {"enabled": False},
        "digest": {"enabled": False},
    }
    return doc


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def publish_all(js: Any, events: list[CloudEvent], *, prefix: str = "steward.events") -> None:
    """Publish like the kit relay (``Nats-Msg-Id`` = event id), many acks in flight at once."""
    sem = asyncio.Semaphore(256)

    async def one(e: CloudEvent) -> None:
        aggregate, _, name = e.short_type.partition(".")
        async with sem:
            await js.publish(
                f"{prefix}.{e.tenant}.{aggregate}.{name}",
                e.model_dump_json(exclude_none=True).encode(),
                headers={"Nats-Msg-Id": e.id},
            )

    await asyncio.gather(*(one(e) for e in events))


async def wait_until(check: Callable[[], Awaitable[bool]], *, within: float, every: float = 0.02) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(every)
    return False


async def count(pg: asyncpg.Connection, sql: str, *args: Any) -> int:
    return int(await pg.fetchval(sql, *args))


async def reference_inbox(js: Any, pg: asyncpg.Connection, n: int, tenant: str) -> float:
    """The plain path: a durable pull consumer, per message one INSERT (autocommit) and an ack."""
    await pg.execute(
        "CREATE TABLE IF NOT EXISTS ref_inbox (id uuid PRIMARY KEY, event_id text NOT NULL,"
        " recipient_subject text NOT NULL, title text NOT NULL, body text NOT NULL,"
        " created_at timestamptz NOT NULL DEFAULT now(), UNIQUE (event_id, recipient_subject))"
    )
    await js.add_stream(js_api.StreamConfig(name="BENCH_REF", subjects=["benchref.>"]))
    events = [matter_overdue(tenant=tenant, project_id="p", unit_id="u", title=f"参考{i}") for i in range(n)]
    await publish_all(js, events, prefix="benchref")
    sub = await js.pull_subscribe("benchref.>", durable="ref", stream="BENCH_REF")
    insert = await pg.prepare(
        "INSERT INTO ref_inbox (id, event_id, recipient_subject, title, body) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT DO NOTHING"
    )
    done = 0
    start = time.perf_counter()
    while done < n:
        for msg in await sub.fetch(256, timeout=5):
            body = json.loads(msg.data)
            data = body["data"]
            await insert.fetch(uuid.uuid4(), body["id"], "u-agent", data["title"], data["number"])
            await msg.ack()
            done += 1
    return n / (time.perf_counter() - start)


async def reference_email(port: int, n: int) -> float:
    """aiosmtplib over one connection, no database: what the SMTP path itself allows."""
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
    await smtp.connect()
    start = time.perf_counter()
    for i in range(n):
        msg = EmailMessage()
        msg["From"] = "noreply@steward.local"
        msg["To"] = f"ref-{i}@example.gov.cn"
        msg["Subject"] = "参考"
        msg.set_content("参考邮件")
        await smtp.send_message(msg)
    rate = n / (time.perf_counter() - start)
    await smtp.quit()
    return rate


async def run(ctx: BenchContext) -> list[Row]:
    rows: list[Row] = []
    with LocalNats() as bus, SmtpSink() as smtp:  # this module's own NATS: no other bench's backlog
        reg_url = ctx.database_url("notify_registry")
        await asyncio.to_thread(migrate_registry, reg_url)
        url = ctx.database_url("notify")
        await asyncio.to_thread(migrate, url)
        async with running_registry(reg_url, bus.url, log_level="WARNING") as reg:
            sc = await scenario(reg, rules=_rules(), tag="bench")
            # the service's own defaults (polls, back-offs, batch sizes), not the test harness' fast
            # polls; no per-channel rate limit: the bench measures the engine, not the policy
            settings = NotifySettings(
                database_url=url,
                nats_url=bus.url,
                registry_grpc_target=reg.grpc_target,
                jwt_dev_secret=SECRET,
                smtp_host="127.0.0.1",
                smtp_port=smtp.port,
                rate_limits="",
                log_level="WARNING",
            )
            proc = NotifyProcess(settings)
            proc.start()
            pg = await asyncpg.connect(asyncpg_dsn(url))
            nc = await nats.connect(bus.url)
            try:
                await proc.wait_ready(60)
                assert proc.proc is not None
                rows += await _measure(ctx, proc.proc.pid, nc.jetstream(), pg, smtp, sc)
            finally:
                await nc.close()
                await pg.close()
                proc.terminate()
    return rows


async def _measure(
    ctx: BenchContext, pid: int, js: Any, pg: asyncpg.Connection, smtp: SmtpSink, sc: Any
) -> list[Row]:
    rows: list[Row] = []

    def mk(i: int, kind: str = "matter.overdue") -> CloudEvent:
        if kind == "matter.overdue":
            return matter_overdue(
                tenant=sc.tenant, project_id=sc.project_id, unit_id=sc.unit_id, title=f"事项{i}"
            )
        return generic_event(
            sc.tenant,
            kind,
            {
                "matter_id": f"m{i}",
                "title": f"升级{i}",
                "project_id": sc.project_id,
                "responsible_unit_id": sc.unit_id,
            },
        )

    inbox_sql = "SELECT count(*) FROM inbox_messages WHERE event_type = $1"

    # warm-up: the first event pays the connections, the registry's caches, template compiling
    await publish_all(js, [mk(-1)])
    await wait_until(lambda: _at_least(pg, inbox_sql, 1, "matter.overdue"), within=30)

    # 1. inbox throughput
    n = ctx.scaled(INBOX_EVENTS, minimum=20)
    events = [mk(i) for i in range(n)]
    cpu0, start = cpu_seconds(pid), time.perf_counter()
    await publish_all(js, events)
    ok = await wait_until(lambda: _at_least(pg, inbox_sql, n + 1, "matter.overdue"), within=300)
    wall, cpu = time.perf_counter() - start, cpu_seconds(pid) - cpu0
    got = await count(pg, inbox_sql, "matter.overdue") - 1
    ref = await reference_inbox(js, pg, n, sc.tenant)
    rate = got / wall
    note = f"{n} events, 1 recipient each; reference: pull + INSERT + ack, asyncpg, {ref:,.0f}/s"
    rows.append(Row("inbox messages/s", rate, "1/s", note + ("" if ok else "; TIMED OUT")))
    rows.append(Row("inbox: ratio to the reference", rate / ref, "x", "issue 15: ≥ 1,000 inbox messages/s"))
    rows.append(Row("inbox: notify CPU per message", cpu * 1000 / max(got, 1), "ms", "notify process"))

    # 2. e-mail throughput: a few reused SMTP connections, batched claims and marks
    m = ctx.scaled(EMAILS, minimum=20)
    before = smtp.received
    events = [mk(i, "matter.escalated") for i in range(m)]
    sent_sql = "SELECT count(*) FROM deliveries WHERE channel = 'email' AND status = 'sent'"
    cpu0, start = cpu_seconds(pid), time.perf_counter()
    await publish_all(js, events)
    ok = await wait_until(lambda: _at_least(pg, sent_sql, m), within=300, every=0.05)
    wall, cpu = time.perf_counter() - start, cpu_seconds(pid) - cpu0
    received = smtp.received - before
    ref = await reference_email(smtp.port, m)
    rate = received / wall
    rows.append(
        Row(
            "e-mails/s (event → SMTP accepted → recorded)",
            rate,
            "1/s",
            f"{m} events; reference: aiosmtplib, one connection, no DB, {ref:,.0f}/s"
            + ("" if ok else "; TIMED OUT"),
        )
    )
    rows.append(Row("e-mail: ratio to the reference", rate / ref, "x"))
    rows.append(Row("e-mail: notify CPU per e-mail", cpu * 1000 / max(received, 1), "ms", "notify process"))
    dup = await count(
        pg, "SELECT count(*) - count(DISTINCT (event_id, recipient)) FROM deliveries WHERE channel = 'email'"
    )
    rows.append(Row("e-mail: received by the sink", received, "count", f"of {m}; duplicate deliveries {dup}"))

    # 2b. a relay that takes its time: each message accepted after RELAY_SECONDS; one connection
    # would carry at most 1 / RELAY_SECONDS a second, so more than that needs several
    r = ctx.scaled(RELAY_EMAILS, minimum=20)
    smtp.delay = RELAY_SECONDS
    try:
        before = smtp.received
        start = time.perf_counter()
        await publish_all(js, [mk(200_000 + i, "matter.escalated") for i in range(r)])
        ok = await wait_until(lambda: _at_least(pg, sent_sql, m + r), within=300, every=0.05)
        relayed = (smtp.received - before) / (time.perf_counter() - start)
    finally:
        smtp.delay = 0.0
    rows.append(
        Row(
            f"e-mails/s to a relay taking {RELAY_SECONDS * 1000:.0f} ms a message",
            relayed,
            "1/s",
            f"{r} events; one connection: at most {1 / RELAY_SECONDS:.0f}/s" + ("" if ok else "; TIMED OUT"),
        )
    )

    # 3. latency at a steady 50 events/s
    k = ctx.scaled(round(STEADY_RATE * STEADY_SECONDS), minimum=10)
    ids: list[str] = []
    start = time.perf_counter()
    for i in range(k):
        await asyncio.sleep(max(0.0, start + i / STEADY_RATE - time.perf_counter()))
        e = mk(100_000 + i)  # event time = now: latency includes publishing and consuming
        ids.append(e.id)
        await publish_all(js, [e])
    await wait_until(
        lambda: _at_least(pg, "SELECT count(*) FROM inbox_messages WHERE event_id = ANY($1)", k, ids),
        within=60,
    )
    lat = [
        float(r[0]) * 1000
        for r in await pg.fetch(
            "SELECT extract(epoch FROM i.created_at - d.event_time) FROM inbox_messages i"
            " JOIN deliveries d ON d.event_id = i.event_id AND d.channel = 'inbox' WHERE i.event_id = ANY($1)",
            ids,
        )
    ]
    note = f"{k} events at {STEADY_RATE:.0f}/s; event time → inbox row"
    rows.append(Row("event → inbox p50 at 50 events/s", percentile(lat, 50), "ms", note))
    rows.append(Row("event → inbox p99 at 50 events/s", percentile(lat, 99), "ms", note))

    # 4. one reminder to 10,000 enterprise contacts
    b = ctx.scaled(BROADCAST, minimum=50)
    subjects = [f"u-contact-{i:05d}" for i in range(b)]
    event = generic_event(
        sc.tenant, "ranking.published", {"ranking": "月度排名", "enterprise_contact_subjects": subjects}
    )
    cpu0, start = cpu_seconds(pid), time.perf_counter()
    await publish_all(js, [event])
    ok = await wait_until(
        lambda: _at_least(pg, "SELECT count(*) FROM inbox_messages WHERE event_id = $1", b, event.id),
        within=120,
        every=0.05,
    )
    wall, cpu = time.perf_counter() - start, cpu_seconds(pid) - cpu0
    rows.append(
        Row(
            f"broadcast to {b:,} inboxes",
            wall,
            "s",
            f"one ranking.published; notify CPU {cpu:.1f} s" + ("" if ok else "; TIMED OUT"),
        )
    )

    # the kit's outbox relay publishes one delivery.succeeded per delivery after the fact
    pending_sql = "SELECT count(*) FROM steward_outbox WHERE published_at IS NULL"
    backlog = await count(pg, pending_sql)
    start = time.perf_counter()
    await wait_until(lambda: _none(pg, pending_sql), within=300, every=0.2)
    rows.append(
        Row(
            "outbox drained after the broadcast",
            time.perf_counter() - start,
            "s",
            f"{backlog:,} delivery events waiting to be published (kit outbox relay)",
        )
    )

    # 5. idle: nothing to do
    await asyncio.sleep(2.0)
    idle = max(1.0, IDLE_SECONDS * min(1.0, ctx.scale * 10))
    cpu0 = cpu_seconds(pid)
    await asyncio.sleep(idle)
    rows.append(Row("notify idle CPU", (cpu_seconds(pid) - cpu0) * 1000 / idle, "ms/s", f"over {idle:.0f} s"))
    return rows


async def _none(pg: asyncpg.Connection, sql: str) -> bool:
    return await count(pg, sql) == 0


async def _at_least(pg: asyncpg.Connection, sql: str, n: int, *args: Any) -> bool:
    return await count(pg, sql, *args) >= n
