"""Notify over loopback: a real registry and a real notify in this event loop, a real SMTP server
(aiosmtpd) and a loopback HTTP receiver.

Rows: ``matter.overdue`` events published to JetStream → the responsible unit's agent gets an inbox
message and an email (throughput; latency from the event's time to ``sent_at``), and an agency
webhook subscription receives every event signed (throughput; latency).
"""

from __future__ import annotations

import asyncio
import time

import nats
import sqlalchemy as sa

from bench.common import BenchContext, Row, peak_rss_mib, percentile
from steward.notify.testing import (
    SmtpSink,
    auth,
    http_sink,
    matter_overdue,
    migrate,
    notify_settings,
    running_notify,
    scenario,
)

EVENTS = 400


async def run(ctx: BenchContext) -> list[Row]:
    n = ctx.scaled(EVENTS, minimum=5)
    rows: list[Row] = []
    async with ctx.run_registry() as reg, http_sink() as receiver:
        with SmtpSink() as smtp:
            url = ctx.database_url("notify")
            await asyncio.to_thread(migrate, url)
            settings = notify_settings(
                url,
                ctx.nats_url,
                reg.grpc_target,
                smtp_port=smtp.port,
                notify_consumer="notify_bench",
                log_level="WARNING",
                delivery_lease_seconds=30.0,
            )
            async with running_notify(settings) as notify:
                sc = await scenario(reg, tag="bench")
                r = await notify.http.post(
                    "/v1/subscriptions",
                    json={
                        "tenant": sc.tenant,
                        "name": "bench",
                        "url": f"{receiver.base_url}/bench",
                        "event_types": ["matter.*"],
                    },
                    headers=auth(sc.tenant, "agency", sub="agency-bench"),
                )
                assert r.status_code == 201, r.text
                events = [  # event time = build time: latency includes publishing and consuming
                    matter_overdue(
                        tenant=sc.tenant, project_id=sc.project_id, unit_id=sc.unit_id, title=f"事项{i}"
                    )
                    for i in range(n)
                ]
                nc = await nats.connect(ctx.nats_url)
                js = nc.jetstream()
                start = time.perf_counter()
                for e in events:  # like the kit relay: one connection, Nats-Msg-Id = event id
                    await js.publish(
                        f"steward.events.{e.tenant}.matter.overdue",
                        e.model_dump_json(exclude_none=True).encode(),
                        headers={"Nats-Msg-Id": e.id},
                    )
                await nc.close()
                ids = [e.id for e in events]
                deadline = time.monotonic() + 300
                stats: dict[str, tuple[int, float | None]] = {}
                while time.monotonic() < deadline:
                    async with notify.db.read() as session:
                        res = (
                            await session.execute(
                                sa.text(
                                    "SELECT channel, count(*), max(sent_at) FROM deliveries "
                                    "WHERE status = 'sent' AND event_id = ANY(:ids) GROUP BY channel"
                                ),
                                {"ids": ids},
                            )
                        ).all()
                    stats = {str(c): (int(k), None) for c, k, _ in res}
                    if all(stats.get(ch, (0, None))[0] >= n for ch in ("inbox", "email", "webhook")):
                        break
                    await asyncio.sleep(0.1)
                wall = time.perf_counter() - start
                async with notify.db.read() as session:
                    lat = (
                        await session.execute(
                            sa.text(
                                "SELECT channel, extract(epoch FROM sent_at - event_time) FROM deliveries "
                                "WHERE status = 'sent' AND event_id = ANY(:ids)"
                            ),
                            {"ids": ids},
                        )
                    ).all()
                by: dict[str, list[float]] = {}
                for ch, s in lat:
                    by.setdefault(str(ch), []).append(float(s) * 1000)
                total = sum(len(v) for v in by.values())
                note = f"{n} matter.overdue events; inbox+email to the agent, signed webhook to an agency"
                rows.append(Row("deliveries/s (all channels)", total / wall, "1/s", note))
                for ch in ("inbox", "email", "webhook"):
                    samples = by.get(ch, [])
                    rows.append(Row(f"{ch} delivered", len(samples), "count", f"of {n}"))
                    rows.append(Row(f"{ch} latency p50 (event time → sent)", percentile(samples, 50), "ms"))
                    rows.append(Row(f"{ch} latency p95 (event time → sent)", percentile(samples, 95), "ms"))
                rows.append(Row("emails received by SMTP", len(smtp.to(sc.agent["email"])), "count"))
                rows.append(Row("webhooks received", len(receiver.at("/bench")), "count"))
    rows.append(Row("peak RSS", peak_rss_mib(), "MiB", "benchmark process"))
    return rows
