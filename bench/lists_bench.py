"""Lists at city scale: a filtered page of 50 projects (registry ``GET /v1/projects``) and of matters
(issues ``GET /v1/matters`` and its work queues) in a city subtree of 100,000 items.

The city has three districts, a zone and ten townships (15 tenants); the items are bulk-inserted
with ``INSERT … SELECT generate_series`` spread evenly over the tenants, then ANALYZEd. For every
filter the API offers, the same request is timed over REST against the real service running in
this event loop (``p50``/``p99`` with 1 client, then with 8), and the SQL the list issued (captured
with a ``before_cursor_execute`` hook) is EXPLAINed: the ``plan`` row is 1 when no node scans the
big table sequentially (an index path) and 0 for a Seq Scan; its note names the scan nodes. The
``SQL`` row is that statement's execution time inside PostgreSQL, the ``CPU per page`` row the CPU
this process (HTTP client and service together) spent per page with one client: with 8 clients
on a small machine the latency is mostly queueing behind that CPU.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import sqlalchemy as sa

from bench.common import BenchContext, Row, Timing, measure
from bench.registry_bench import bulk_projects, expect
from steward.issues.testing import auth as issues_auth
from steward.issues.testing import migrate as migrate_issues
from steward.issues.testing import running_issues
from steward.kit.auth import Principal, Role
from steward.kit.db import Database
from steward.registry.tenants import service as tenant_service
from steward.registry.tenants.schemas import TenantCreate, TenantKind
from steward.registry.testing import Registry, Tree, make_tree

CONCURRENCY = 8
PAGE = 50
ITEMS = 100_000
SINGLE = 150  # requests per filter with one client
MANY = 240  # requests per filter with 8 clients
NATIONAL_EVERY = 100  # every 100th project gets a national project code

_SCAN = re.compile(
    r"(Index Only Scan Backward|Index Scan Backward|Index Only Scan|Index Scan|Bitmap Heap Scan|Seq Scan)"
    r"(?: using (\S+))? on (\w+)"
)


async def city_tree(reg: Registry) -> tuple[Tree, list[str]]:
    """``make_tree``'s city plus three townships per district: 15 tenants."""
    tree = await make_tree(reg)
    admin = Principal(subject="bench-setup", tenant=tree.city, roles=frozenset({Role.PLATFORM_ADMIN}))
    extra: list[str] = []
    async with reg.db.transaction() as session:
        for d in tree.districts:
            for i in (1, 2, 3):
                code = f"{d}{i:03d}"
                await tenant_service.create_tenant(
                    session,
                    principal=admin,
                    data=TenantCreate(code=code, name=f"基准镇{code}", kind=TenantKind.TOWNSHIP, parent=d),
                )
                extra.append(code)
    return tree, [tree.city, *tree.districts, tree.zone, tree.township, *extra]


async def tenant_paths(reg: Registry, codes: list[str]) -> list[str]:
    async with reg.db.read() as session:
        rows = await session.execute(
            sa.text("SELECT code, path FROM tenants WHERE code = ANY(CAST(:c AS text[]))"), {"c": codes}
        )
        by_code = {code: path for code, path in rows}
    return [by_code[c] for c in codes]


@contextmanager
def captured(db: Database, table: str) -> Iterator[list[tuple[str, Any]]]:
    """The statements reading ``table`` with an ORDER BY (the list query) while the block runs."""
    seen: list[tuple[str, Any]] = []
    needle = f"FROM {table}"

    def hook(_conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        if needle in statement and "ORDER BY" in statement:
            seen.append((statement, parameters))

    engine = db.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", hook)


async def explain(db: Database, statement: str, parameters: Any) -> tuple[str, float]:
    """The plan of ``statement`` and its execution time in PostgreSQL (ms, EXPLAIN ANALYZE, warm)."""
    async with db.engine.connect() as conn:
        for _ in range(3):  # warm: the last of three runs
            result = await conn.exec_driver_sql("EXPLAIN (ANALYZE, TIMING OFF) " + statement, parameters)
        plan = "\n".join(r[0] for r in result)
    m = re.search(r"Execution Time: ([0-9.]+) ms", plan)
    return plan, float(m.group(1)) if m else 0.0


def plan_summary(plan: str, table: str) -> tuple[bool, str]:
    """(no Seq Scan on ``table``, "top node; scans of the table")."""
    top = plan.splitlines()[0].split("  (")[0].strip() if plan else "?"
    scans = [m for m in _SCAN.finditer(plan) if m.group(3) == table]
    index_path = bool(scans) and not any(m.group(1) == "Seq Scan" for m in scans)
    nodes = sorted({f"{m.group(1)}{' ' + m.group(2) if m.group(2) else ''}" for m in scans})
    return index_path, f"top: {top}; {table}: {', '.join(nodes) or 'no scan'}"


async def bench_filter(
    ctx: BenchContext,
    *,
    http: Any,
    db: Database,
    table: str,
    label: str,
    path: str,
    params: dict[str, Any],
    headers: dict[str, str],
    expect_full: bool,
) -> list[Row]:
    retried = 0

    async def page(_: int) -> None:
        nonlocal retried
        try:
            r = await http.get(path, params=params, headers=headers)
        except httpx.TransportError:  # a keep-alive connection the server closed as it was reused
            retried += 1
            r = await http.get(path, params=params, headers=headers)
        expect(r.status_code, 200, r.text)
        if expect_full and len(r.json()["items"]) != PAGE:
            raise RuntimeError(f"{label}: expected a page of {PAGE}, got {len(r.json()['items'])}")

    with captured(db, table) as seen:
        await page(0)
    if not seen:
        raise RuntimeError(f"{label}: no list query on {table} was seen")
    plan, executed = await explain(db, *seen[-1])
    index_path, summary = plan_summary(plan, table)
    await measure(page, count=3)  # warm-up
    cpu = time.process_time()
    single = await measure(page, count=ctx.scaled(SINGLE, minimum=3))
    cpu = (time.process_time() - cpu) / single.count * 1000
    many = await measure(page, count=ctx.scaled(MANY, minimum=CONCURRENCY), concurrency=CONCURRENCY)
    return [
        *_latency(f"{label} (1 client)", single),
        *_latency(f"{label} ({CONCURRENCY} clients)", many),
        Row(f"{label} plan", 1.0 if index_path else 0.0, "index path", f"{summary}; retried {retried}"),
        Row(f"{label} SQL", executed, "ms", "execution time in PostgreSQL (EXPLAIN ANALYZE, warm)"),
        Row(f"{label} CPU per page", cpu, "ms", "bench process (HTTP client + service), 1 client"),
    ]


def _latency(label: str, timing: Timing) -> list[Row]:
    return [Row(f"{label} p{q}", timing.ms(q), "ms", f"n={timing.count}") for q in (50, 99)]


async def first_cursor(
    http: Any, path: str, params: dict[str, Any], headers: dict[str, str], pages: int
) -> str:
    """The cursor ``pages`` pages deep (keyset continuation)."""
    cursor = ""
    for _ in range(pages):
        r = await http.get(path, params={**params, "cursor": cursor} if cursor else params, headers=headers)
        expect(r.status_code, 200, r.text)
        cursor = r.json()["next_cursor"]
        if not cursor:
            raise RuntimeError("ran out of pages")
    return cursor


# --------------------------------------------------------------------------- projects


async def bench_projects(ctx: BenchContext, reg: Registry, tree: Tree, tenants: list[str]) -> list[Row]:
    n = ctx.scaled(ITEMS, minimum=PAGE * 20)
    await bulk_projects(reg, tenants, n)
    async with reg.db.transaction() as session:  # a national project code on every 100th project
        await session.execute(
            sa.text(
                "UPDATE projects SET national_code = '2025-' || substr(tenant_code, 1, 6) || '-48-01-' "
                "|| lpad(substr(code, length(code) - 5), 6, '0') "
                "WHERE created_by = 'bench' AND right(code, 2) = '00'"
            )
        )
        national = (
            await session.execute(
                sa.text("SELECT national_code FROM projects WHERE national_code IS NOT NULL LIMIT 1")
            )
        ).scalar_one()
    async with reg.db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text("ANALYZE projects"))
    headers = reg.auth(tree.city, "tenant_admin")
    base: dict[str, Any] = {"tenant": tree.city, "limit": PAGE}
    deep = await first_cursor(reg.http, "/v1/projects", base, headers, pages=min(20, n // PAGE - 1))
    rare = f"基准项目{n // 2 + 7}"  # itself and ten longer names: a handful of rows
    filters: list[tuple[str, dict[str, Any], bool]] = [
        ("subtree (city)", {}, True),
        ("district subtree", {"tenant": tree.districts[2]}, True),
        ("township subtree", {"tenant": tree.township}, True),
        ("stage", {"stage": "preparing"}, True),
        ("two stages", {"stage": ["signed", "completed"]}, True),
        ("tier", {"tier": "city"}, True),
        ("key_level", {"key_level": "provincial"}, True),
        ("funding_type", {"funding_type": "ppp"}, True),
        ("steward_required", {"steward_required": "true"}, True),
        ("township + stage", {"tenant": tree.township, "stage": "preparing"}, False),
        ("national_code", {"national_code": national}, False),
        ("q rare name", {"q": rare}, False),
        ("q common", {"q": "基准"}, True),
        ("page 21 (cursor)", {"cursor": deep}, True),
    ]
    rows: list[Row] = []
    for label, extra, full in filters:
        rows += await bench_filter(
            ctx,
            http=reg.http,
            db=reg.db,
            table="projects",
            label=f"projects {label}",
            path="/v1/projects",
            params={**base, **extra},
            headers=headers,
            expect_full=full,
        )
    rows.append(Row("projects in the subtree", n, "projects", f"{len(tenants)} tenants, bulk-inserted"))
    return rows


# --------------------------------------------------------------------------- matters

MATTER_CLONE = """
INSERT INTO matters ({cols}) SELECT {select}
FROM matters t, generate_series(1, CAST(:n AS integer)) AS g,
     (SELECT CAST(:codes AS text[]) AS codes, CAST(:paths AS text[]) AS paths) AS tp
WHERE t.id = CAST(:tid AS uuid)
"""

MATTER_COLUMNS = {
    "id": "gen_random_uuid()",
    "number": "'BENCH-' || lpad(g::text, 8, '0')",
    "tenant_code": "tp.codes[1 + g % cardinality(tp.codes)]",
    "tenant_path": "tp.paths[1 + g % cardinality(tp.codes)]",
    "handling_tenant": "tp.codes[1 + g % cardinality(tp.codes)]",
    "kind": "(ARRAY['obstacle', 'procedure', 'decision', 'complaint'])[1 + g % 4]",
    "status": "(ARRAY['filed', 'accepted', 'in_progress', 'returned', 'resolved', 'confirmed', 'closed', "
    "'rejected'])[1 + (g / 3) % 8]",
    "tier": "(ARRAY['unit', 'district', 'city', 'government'])[1 + (g / 5) % 4]",
    "category": "(ARRAY['utilities', 'land', 'permits', 'finance', 'labor', 'other'])[1 + (g / 11) % 6]",
    "title": "'基准问题' || g",
    "project_id": "'p-' || (g % 2000)",
    "responsible_unit_id": "'u-' || (g % 200)",
    "owner_unit_id": "'e-' || (g % 500)",
    "meeting_id": "CASE WHEN g % 50 = 0 THEN 'm-' || (g / 50 % 40) END",
    "overdue": "g % 20 = 0",
    "filed_at": "t.filed_at - make_interval(secs => g)",
    "idempotency_key": "NULL",
}


async def clone_matters(db: Database, template: str, n: int, codes: list[str], paths: list[str]) -> None:
    async with db.transaction() as s:
        cols = [
            r[0]
            for r in await s.execute(
                sa.text(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = 'matters' "
                    "ORDER BY ordinal_position"
                )
            )
        ]
        select = ", ".join(MATTER_COLUMNS.get(c, f"t.{c}") for c in cols)
        await s.execute(
            sa.text(MATTER_CLONE.format(cols=", ".join(cols), select=select)),
            {"n": n, "tid": template, "codes": codes, "paths": paths},
        )
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text("ANALYZE matters"))


async def bench_matters(ctx: BenchContext, reg: Registry, tree: Tree, tenants: list[str]) -> list[Row]:
    d = tree.districts[0]
    r = await reg.http.post(
        "/v1/projects",
        json={"tenant": d, "name": "列表基准项目", "total_investment": "5000万"},
        headers=reg.auth(d, "dispatcher"),
    )
    expect(r.status_code, 201, r.text)
    project = r.json()["id"]
    paths = await tenant_paths(reg, tenants)
    url = ctx.database_url("issues_lists")
    await asyncio.to_thread(migrate_issues, url)
    n = ctx.scaled(ITEMS, minimum=PAGE * 20)
    async with running_issues(
        url, ctx.nats_url, reg.grpc_target, log_level="WARNING", timers_enabled=False
    ) as svc:
        r = await svc.http.post(
            "/v1/matters",
            json={
                "kind": "obstacle",
                "project_id": project,
                "title": "模板",
                "category": "utilities",
                "tier": "unit",
            },
            headers=issues_auth(d, "specialist"),
        )
        expect(r.status_code, 201, r.text)
        await clone_matters(svc.db, r.json()["id"], n, tenants, paths)
        headers = issues_auth(tree.city, "tenant_admin")
        base: dict[str, Any] = {"tenant": tree.city, "limit": PAGE}
        deep = await first_cursor(svc.http, "/v1/matters", base, headers, pages=min(20, n // PAGE - 1))
        filters: list[tuple[str, str, dict[str, Any], dict[str, str], bool]] = [
            ("subtree (city)", "/v1/matters", {}, headers, True),
            ("district subtree", "/v1/matters", {"tenant": tree.districts[2]}, headers, True),
            ("township subtree", "/v1/matters", {"tenant": tree.township}, headers, True),
            ("kind", "/v1/matters", {"kind": "procedure"}, headers, True),
            ("status", "/v1/matters", {"status": "in_progress"}, headers, True),
            ("two statuses", "/v1/matters", {"status": ["resolved", "closed"]}, headers, True),
            ("open_only", "/v1/matters", {"open_only": "true"}, headers, True),
            ("tier", "/v1/matters", {"tier": "city"}, headers, True),
            ("category", "/v1/matters", {"category": "land"}, headers, True),
            ("project_id", "/v1/matters", {"project_id": "p-17"}, headers, False),
            ("responsible_unit_id", "/v1/matters", {"responsible_unit_id": "u-17"}, headers, True),
            ("handling_tenant", "/v1/matters", {"handling_tenant": tree.districts[1]}, headers, True),
            ("meeting_id", "/v1/matters", {"meeting_id": "m-7"}, headers, False),
            ("overdue", "/v1/matters", {"overdue": "true"}, headers, True),
            ("not overdue", "/v1/matters", {"overdue": "false"}, headers, True),
            (
                "township + status",
                "/v1/matters",
                {"tenant": tree.township, "status": "filed"},
                headers,
                False,
            ),
            ("q rare title", "/v1/matters", {"q": f"基准问题{n // 2 + 7}"}, headers, False),
            ("q common", "/v1/matters", {"q": "基准"}, headers, True),
            ("page 21 (cursor)", "/v1/matters", {"cursor": deep}, headers, True),
            (
                "queue my-unit",
                "/v1/matters/queues/my-unit",
                {},
                issues_auth(tree.city, "specialist", unit="u-17"),
                False,
            ),
            ("queue overdue", "/v1/matters/queues/overdue", {}, headers, True),
            (
                "enterprise (own)",
                "/v1/matters",
                {},
                issues_auth(tree.city, "enterprise_contact", unit="e-17"),
                False,
            ),
        ]
        rows: list[Row] = []
        for label, path, extra, hdrs, full in filters:
            rows += await bench_filter(
                ctx,
                http=svc.http,
                db=svc.db,
                table="matters",
                label=f"matters {label}",
                path=path,
                params={**base, **extra},
                headers=hdrs,
                expect_full=full and n >= ITEMS,
            )
    rows.append(Row("matters in the subtree", n, "matters", f"{len(tenants)} tenants, bulk-inserted"))
    return rows


async def run(ctx: BenchContext) -> list[Row]:
    rows: list[Row] = []
    async with ctx.run_registry(log_level="WARNING") as reg:
        tree, tenants = await city_tree(reg)
        rows += await bench_projects(ctx, reg, tree, tenants)
        rows += await bench_matters(ctx, reg, tree, tenants)
    return rows
