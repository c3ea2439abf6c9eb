"""Meetings service: compiling an agenda (重点办汇总) of 200 signed topics whose supervision report
covers the 1,000 decisions of the previous meeting, with their states from the issues service
(``MatterStatusReport`` over gRPC, two batches of 500) — real registry, issues and meetings replicas
on loopback. Also measured: filing the 1,000 decisions as ``decision`` matters (the ``decision.file``
timer: one idempotent ``CreateMatter`` call each).

And the organiser's and units' everyday writes over REST, one request at a time, on a meeting three
weeks ahead: submitting a topic (议题申报), recording a decision (议定事项, with its filing timer) and
recording the attendance of ten people (出席情况). Per request: p50, the SQL statements the meetings
database saw (BEGIN and COMMIT come on top), and the CPU of the bench process (client and services)
and of PostgreSQL from ``/proc``."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa

from bench.common import BenchContext, Row, latency_rows, measure
from bench.loadgen import Meter
from bench.procs import infra_pids
from steward.issues.testing import migrate as migrate_issues
from steward.issues.testing import running_issues
from steward.kit.clock import Clock
from steward.kit.db import Database
from steward.meetings.testing import auth, local, running_meetings
from steward.meetings.testing import migrate as migrate_meetings
from steward.registry.testing import make_tree

NOW = local(2026, 11, 2, 9)


def expect(status: int, want: int, body: str) -> None:
    if status != want:
        raise RuntimeError(f"expected HTTP {want}, got {status}: {body[:300]}")


# the service's own background work on the same engine (outbox relay, audit chain, consumers, timers)
_BACKGROUND = ("steward_outbox", "steward_audit_chain", "pg_try_advisory", "steward_inbox", "steward_timers")


def background(statement: str) -> bool:
    """A statement of the service's background loops, not of a request (which only inserts into
    the kit's tables, or sends them with its one statement)."""
    head = statement.lstrip()[:6].upper()
    return head in ("SELECT", "UPDATE", "DELETE") and any(t in statement for t in _BACKGROUND)


async def write_path(
    ctx: BenchContext, db: Database, label: str, op: Callable[[int], Awaitable[None]], count: int, note: str
) -> list[Row]:
    """``count`` requests one at a time: p50, SQL statements and CPU (bench process, PostgreSQL) each."""
    statements = 0

    def seen(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        nonlocal statements
        statements += not background(statement)

    engine = db.engine.sync_engine
    meter = Meter({"bench process": (os.getpid(), False), **infra_pids(ctx)})
    sa.event.listen(engine, "before_cursor_execute", seen)
    meter.start()
    try:
        timing = await measure(op, count=count)
    finally:
        used = meter.stop()
        sa.event.remove(engine, "before_cursor_execute", seen)
    rows = [Row(f"{label} p50", timing.ms(50), "ms", f"{note}, n={count}, 1 client")]
    rows.append(
        Row(f"{label} statements", statements / count, "per request", "SQL sent; BEGIN, COMMIT extra")
    )
    rows += [Row(f"{label} CPU {k}", 1000 * v / count, "ms/request", note) for k, v in used.items()]
    return rows


async def everyday_writes(ctx: BenchContext, mt: Any, d: str, meeting: str) -> list[Row]:
    """Topics, decisions and attendance on ``meeting`` over REST (see the module's doc)."""
    org = auth(d, "dispatcher", sub="bench-organiser")
    unit = auth(d, "specialist", sub="bench-unit")
    n = ctx.scaled(200, minimum=5)

    async def topic(i: int) -> None:
        body = {
            "meeting_id": meeting,
            "title": f"议题{i}",
            "problem": "用地报批缓慢",
            "request": "请自然资源局协调",
            "unit_name": "项目指挥部",
            "departments": ["自然资源局", "住建局"],
        }
        r = await mt.http.post("/v1/topics", json=body, headers=unit)
        expect(r.status_code, 201, r.text)

    async def decision(i: int) -> None:
        body = {"text": f"议定事项{i}", "responsible_unit_name": "自然资源局", "responsible_person": "钱局长"}
        r = await mt.http.post(f"/v1/meetings/{meeting}/decisions", json=body, headers=org)
        expect(r.status_code, 201, r.text)

    async def attendance(i: int) -> None:
        statuses = ("present", "late", "absent", "present", "observer")
        items = [
            {
                "person": f"p{k}",
                "name": f"参会人{k}",
                "unit_name": f"单位{k}",
                "status": statuses[(i + k) % 5],
            }
            for k in range(10)
        ]
        r = await mt.http.put(f"/v1/meetings/{meeting}/attendance", json={"items": items}, headers=org)
        expect(r.status_code, 200, r.text)

    rows = await write_path(ctx, mt.db, "meetings topic submit", topic, n, "POST /v1/topics")
    rows += await write_path(ctx, mt.db, "meetings decision record", decision, n, "POST …/decisions")
    rows += await write_path(ctx, mt.db, "meetings attendance", attendance, n, "PUT …/attendance, 10 people")
    return rows


async def run(ctx: BenchContext) -> list[Row]:
    n_decisions, n_topics = ctx.scaled(1000), ctx.scaled(200)
    rows: list[Row] = []
    async with ctx.run_registry(log_level="WARNING") as reg:
        issues_url, meetings_url = ctx.database_url("issues"), ctx.database_url("meetings")
        await asyncio.to_thread(migrate_issues, issues_url)
        await asyncio.to_thread(migrate_meetings, meetings_url)
        issues_clock, clock = Clock(), Clock()
        issues_clock.set(NOW)
        clock.set(NOW)
        async with (
            running_issues(
                issues_url,
                ctx.nats_url,
                reg.grpc_target,
                clock=issues_clock,
                log_level="WARNING",
                timers_enabled=False,  # no reminder sweeps competing with the measured calls
            ) as iss,
            running_meetings(
                meetings_url, ctx.nats_url, reg.grpc_target, iss.grpc_target, clock=clock, log_level="WARNING"
            ) as mt,
        ):
            d = (await make_tree(reg)).districts[0]
            org = auth(d, "dispatcher")
            r = await mt.http.post("/v1/series/sync", json={"tenant": d}, headers=org)
            expect(r.status_code, 200, r.text)
            await mt.sweep()
            r = await mt.http.get("/v1/meetings", params={"tenant": d, "upcoming_first": "true"}, headers=org)
            first, second, third = (m["id"] for m in r.json()["items"][:3])
            params: dict[str, Any] = {
                "m": first,
                "n": n_decisions,
                "t": d,
                "m2": second,
                "k": n_topics,
                "now": NOW,
            }
            async with mt.db.transaction() as s:
                await s.execute(
                    sa.text(
                        "INSERT INTO decisions (id, meeting_id, tenant_code, tenant_path, number, text, "
                        "responsible_unit_name, due_date, deadline_source, recorded_by, recorded_at) "
                        "SELECT gen_random_uuid(), CAST(:m AS uuid), :t, m.tenant_path, g, '议定事项' || g, "
                        "'责任单位' || (g % 20), DATE '2026-11-20' + (g % 30), 'chair', 'bench', now() "
                        "FROM generate_series(1, :n) g, meetings m WHERE m.id = CAST(:m AS uuid)"
                    ),
                    params,
                )
                await s.execute(
                    sa.text(
                        "INSERT INTO steward_timers (id, kind, key, tenant, due_at, payload, attempts) "
                        "SELECT gen_random_uuid(), 'decision.file', CAST(id AS text), tenant_code, :now, "
                        "'{}'::jsonb, 0 FROM decisions WHERE meeting_id = CAST(:m AS uuid)"
                    ),
                    params,
                )
            t0 = time.perf_counter()
            await mt.sweep()
            filing = time.perf_counter() - t0
            async with mt.db.transaction() as s:
                filed = (
                    await s.execute(
                        sa.text("SELECT count(matter_id) FROM decisions WHERE meeting_id = CAST(:m AS uuid)"),
                        params,
                    )
                ).scalar_one()
                if filed != n_decisions:
                    raise RuntimeError(f"filed {filed} of {n_decisions} decisions")
                await s.execute(
                    sa.text(
                        "UPDATE meetings SET status = 'held', held_at = starts_at WHERE id = CAST(:m AS uuid)"
                    ),
                    params,
                )
                await s.execute(
                    sa.text(
                        "INSERT INTO topics (id, series_id, meeting_id, requested_meeting_id, tenant_code, tenant_path, "
                        "title, problem, request, unit_name, departments, matter_ids, submitter, status, source, late, "
                        "urgent, deferrals, submitted_at, updated_at) "
                        "SELECT gen_random_uuid(), m.series_id, m.id, m.id, m.tenant_code, m.tenant_path, '议题' || g, "
                        "'问题', '协调', '指挥部' || (g % 10), '[\"自然资源局\", \"住建局\"]'::jsonb, '[]'::jsonb, 'bench', "
                        "'submitted', 'submitted', false, false, 0, now() + g * interval '1 second', now() "
                        "FROM generate_series(1, :k) g, meetings m WHERE m.id = CAST(:m2 AS uuid)"
                    ),
                    params,
                )
                await s.execute(
                    sa.text(
                        "INSERT INTO topic_signoffs (id, topic_id, role, subject, name, comment, signed_at) "
                        "SELECT gen_random_uuid(), t.id, r.role, 'bench-' || r.role, r.role, '', now() FROM topics t, "
                        "(VALUES ('unit_head'), ('leader_in_charge')) r(role) WHERE t.meeting_id = CAST(:m2 AS uuid)"
                    ),
                    params,
                )
            iss.clock.set(local(2026, 12, 10, 9))  # part of the decisions are overdue by now
            clock.set(local(2026, 11, 13, 9))

            async def compile_once(_: int) -> None:
                r = await mt.http.post(f"/v1/meetings/{second}/agenda/compile", headers=org)
                expect(r.status_code, 200, r.text)
                doc = r.json()["document"]
                if (
                    len(doc["parts"][1]["items"]) != n_topics
                    or doc["parts"][0]["summary"]["total"] != n_decisions
                ):
                    raise RuntimeError("the agenda lacks topics or decisions")

            timing = await measure(compile_once, count=5)
            async with mt.db.read() as s:
                ids = list(
                    (
                        await s.execute(
                            sa.text("SELECT matter_id FROM decisions WHERE meeting_id = CAST(:m AS uuid)"),
                            params,
                        )
                    ).scalars()
                )
            client = mt.runtime.ctx.issues

            async def report_once(_: int) -> None:
                if len(await client.status_report(ids)) != n_decisions:
                    raise RuntimeError("the status report lacks decisions")

            report = await measure(report_once, count=5)
            writes = await everyday_writes(ctx, mt, d, third)  # after the sweeps: no filing of these
    rows.append(
        Row(
            "meetings decision filing",
            filing * 1000.0 / n_decisions,
            "ms/op",
            f"{n_decisions} decisions → decision matters (timer + gRPC CreateMatter)",
        )
    )
    rows += latency_rows(
        "meetings agenda compile",
        timing,
        f"{n_topics} topics + supervision report over {n_decisions} decisions (2 × MatterStatusReport)",
    )
    rows += latency_rows(
        "meetings supervision status report",
        report,
        f"issues MatterStatusReport over {n_decisions} matters (the part of the compile spent in issues)",
    )
    return rows + writes
