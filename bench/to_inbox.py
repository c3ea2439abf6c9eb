"""The platform as ``make run`` runs it, every service consuming: filings paced at 80% of the -c8
peak, the time from each filing to the message in the project steward's inbox, and what one filing
costs every process until the consumers are done (``bench/processes_bench.py`` calls it)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bench.common import Row, percentile
from bench.loadgen import CONNECTIONS, Meter, cpu_note, wrk
from bench.procs import STEWARD_SUBJECT, Platform, drained

STEADY_FACTOR = 0.8  # "at 80% of capacity": HTTP → the consumer's inbox row


async def to_inbox(
    platform: Platform,
    url: str,
    body: dict[str, Any],
    token: str,
    *,
    peak: float,
    seconds: float,
    workdir: Path,
    meter_pids: dict[str, tuple[int, bool]],
) -> list[Row]:
    """Filings paced at 80% of the -c8 peak with every service running; for each, the time from the
    filing (its event's time, taken while the request is handled) to the message in the project
    steward's inbox (its ``created_at``: when notify's batch took the event, a few ms before that
    batch commits), written by notify after the relay published the event. And what a filing costs
    the whole platform: each process's CPU from the load's start until every consumer is done with
    its events (scoring, notify's deliveries and their own events included)."""
    import asyncpg

    from steward.kit.db import asyncpg_dsn

    issues = await asyncpg.connect(asyncpg_dsn(platform.envs["issues"]["STEWARD_DATABASE_URL"]))
    notify = await asyncpg.connect(asyncpg_dsn(platform.envs["notify"]["STEWARD_DATABASE_URL"]))
    try:
        since = await issues.fetchval("SELECT now()")
        meter = Meter(meter_pids)
        meter.start()
        load = await wrk(url, body, token, seconds, workdir, rate=STEADY_FACTOR * peak)
        outbox = await issues.fetch(
            "SELECT id, created_at, published_at FROM steward_outbox"
            " WHERE type LIKE '%.matter.filed.%' AND created_at >= $1",
            since,
        )
        filed = {str(r["id"]): r["created_at"] for r in outbox}
        published = {str(r["id"]): r["published_at"] for r in outbox}
        inbox: dict[str, Any] = {}
        for _ in range(240):  # what is still on its way: at most 2 minutes
            rows = await notify.fetch(
                "SELECT event_id, min(created_at) AS at FROM inbox_messages "
                "WHERE recipient_subject = $1 AND created_at >= $2 GROUP BY event_id",
                STEWARD_SUBJECT,
                since,
            )
            inbox = {r["event_id"]: r["at"] for r in rows}
            if all(k in inbox for k in filed):
                break
            await asyncio.sleep(0.5)
        await drained(platform.ctx.nats_url)
        used = meter.stop()
    finally:
        await issues.close()
        await notify.close()
    missing = [k for k in filed if k not in inbox]
    if not filed or missing:
        raise RuntimeError(f"to inbox: {len(missing)} of {len(filed)} filings have no inbox message")
    latency = [(inbox[k] - at).total_seconds() for k, at in filed.items()]
    # the two legs: issues' relay (the row written → its batch published and marked), then NATS and
    # notify (published → the inbox row); a row is marked once its whole batch is out, so an event
    # can be in the inbox before its mark: that leg is then 0 (and counted in the note)
    relay = [(published[k] - at).total_seconds() for k, at in filed.items() if published[k] is not None]
    gaps = [(inbox[k] - published[k]).total_seconds() for k in filed if published[k] is not None]
    onward = [max(0.0, g) for g in gaps]
    early = sum(g < 0 for g in gaps)
    how = f"wrk -c{CONNECTIONS} paced at {STEADY_FACTOR:.0%} of the -c8 peak ({load.rate:.0f}/s), {seconds:.0f} s"
    return [
        Row(
            "80% of peak: HTTP → inbox p50", percentile(latency, 50) * 1000, "ms", f"{how}; n={len(latency)}"
        ),
        Row("80% of peak: HTTP → inbox p99", percentile(latency, 99) * 1000, "ms", "target < 150"),
        Row(
            "80% of peak: written → published p50/p99",
            percentile(relay, 50) * 1000,
            "ms",
            f"p99 {percentile(relay, 99) * 1000:.0f} ms; issues' outbox relay",
        ),
        Row(
            "80% of peak: published → inbox p50/p99",
            percentile(onward, 50) * 1000,
            "ms",
            f"p99 {percentile(onward, 99) * 1000:.0f} ms; NATS, notify's batch and its registry lookups;"
            f" {early} of {len(gaps)} in the inbox before their batch was marked (0)",
        ),
        Row("80% of peak: filing p99", load.p99_ms, "ms", "wrk, the same paced load"),
        Row(
            "80% of peak: CPU per filing (every process)",
            1000 * sum(used.values()) / len(filed),
            "ms",
            f"until every consumer is done; {cpu_note(used, len(filed))}",
        ),
    ]
