"""Lists at city scale: a filtered page of 50 projects (registry ``GET /v1/projects``) and of matters
(issues ``GET /v1/matters`` and its work queues) in a city subtree of 100,000 items.

The city has three districts, a zone and ten townships (15 tenants); the items are bulk-inserted
with ``INSERT … SELECT generate_series`` spread evenly over the tenants, then ANALYZEd. For every
filter the API offers, one request to a replica in this event loop captures the SQL the list issued
(``bench.explain``), which is EXPLAINed: the ``plan`` row is 1 when no node scans the big table
sequentially (an index path) and 0 for a Seq Scan; its note names the scan nodes. The ``SQL`` row is
that statement's execution time inside PostgreSQL. Then the service runs as its own process on the
same database, as ``make run`` starts it, and ``wrk`` (another process) loads the same request with
1 connection for 1 s and with 8 for 2 s: ``p50``/``p99`` from wrk's histogram, and the ``CPU per
page`` the service process spent with one client (``/proc``). With 8 clients on a small machine the
latency is mostly queueing behind that CPU (the service uses one core; wrk and PostgreSQL share the
machine with it).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench.common import BenchContext, Row, setup_get
from bench.explain import captured, explain, plan_summary
from bench.loadgen import Load, Meter, wrk, wrk_binary
from bench.procs import Started, service_process
from bench.registry_bench import bulk_projects, expect
from steward.devtools.infra import terminate
from steward.issues.testing import auth as issues_auth
from steward.issues.testing import migrate as migrate_issues
from steward.issues.testing import running_issues
from steward.kit.auth import Principal, Role
from steward.kit.db import Database
from steward.registry.tenants import service as tenant_service
from steward.registry.tenants.schemas import TenantCreate, TenantKind
from steward.registry.testing import SECRET, Registry, Tree, make_tree

CONCURRENCY = 8
PAGE = 50
ITEMS = 100_000
SINGLE_SECONDS = 1  # wrk's run per filter with one connection (wrk counts whole seconds)
MANY_SECONDS = 2  # and with 8
WARM_UP = 5  # requests to the process before wrk's
SMOKE_LOADED = 2  # below scale 1 (the smoke test) only the first filters of each list get the load
NATIONAL_EVERY = 100  # every 100th project gets a national project code


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


async def bench_filter(
    ctx: BenchContext,
    *,
    http: Any,
    db: Database,
    service: Started,
    workdir: Path,
    table: str,
    label: str,
    path: str,
    params: dict[str, Any],
    headers: dict[str, str],
    expect_full: bool,
    load: bool = True,
) -> list[Row]:
    """One request to the in-process replica (the SQL it issues, EXPLAINed; a full page), then with
    ``load`` ``wrk`` with 1 and with 8 connections against the service running as its own process."""
    with captured(db, table) as seen:
        r = await setup_get(http, path, params=params, headers=headers)
    expect(r.status_code, 200, r.text)
    if expect_full and len(r.json()["items"]) != PAGE:
        raise RuntimeError(f"{label}: expected a page of {PAGE}, got {len(r.json()['items'])}")
    if not seen:
        raise RuntimeError(f"{label}: no list query on {table} was seen")
    plan, executed = await explain(db, *seen[-1])
    index_path, summary = plan_summary(plan, table)
    explained = [
        Row(f"{label} plan", 1.0 if index_path else 0.0, "index path", summary),
        Row(f"{label} SQL", executed, "ms", "execution time in PostgreSQL (EXPLAIN ANALYZE, warm)"),
    ]
    if not load:
        return explained
    url = f"{service.url}{path}?{httpx.QueryParams(params)}"
    token = headers["Authorization"].removeprefix("Bearer ")
    async with httpx.AsyncClient(headers=headers) as warm:  # the process's first run of this query
        for _ in range(WARM_UP):
            r = await warm.get(url)
            expect(r.status_code, 200, r.text)
    meter = Meter({"service": (service.proc.pid, False)})
    meter.start()
    single = await wrk(url, None, token, SINGLE_SECONDS, workdir, connections=1)
    cpu = meter.stop()["service"] * 1000 / max(single.requests, 1)
    many = await wrk(url, None, token, MANY_SECONDS, workdir, connections=CONCURRENCY)
    return [
        *_latency(f"{label} (1 client)", single),
        *_latency(f"{label} ({CONCURRENCY} clients)", many),
        *explained,
        Row(f"{label} CPU per page", cpu, "ms", f"the {service.spec.name} process (/proc), 1 client"),
    ]


def _latency(label: str, load: Load) -> list[Row]:
    note = f"wrk, {load.requests} pages in {load.seconds:.1f} s"
    return [Row(f"{label} p50", load.p50_ms, "ms", note), Row(f"{label} p99", load.p99_ms, "ms", note)]


@asynccontextmanager
async def as_process(
    ctx: BenchContext, name: str, *, database_url: str, registry_target: str
) -> AsyncIterator[tuple[Started, Path]]:
    """The service as its own process (as ``make run`` starts it) on the bench's filled database."""
    with tempfile.TemporaryDirectory(prefix=f"steward-lists-{name}-") as tmp:
        workdir = Path(tmp)
        wrk_binary()
        started = await service_process(
            ctx,
            name,
            database_url=database_url,
            registry_target=registry_target,
            jwt_secret=SECRET,
            workdir=workdir,
        )
        try:
            yield started, workdir
        finally:
            terminate(started.proc, timeout=20.0)


async def first_cursor(
    http: Any, path: str, params: dict[str, Any], headers: dict[str, str], pages: int
) -> str:
    """The cursor ``pages`` pages deep (keyset continuation)."""
    cursor = ""
    for _ in range(pages):
        query = {**params, "cursor": cursor} if cursor else params
        r = await setup_get(http, path, params=query, headers=headers)
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
    url = reg.settings.database_url
    async with as_process(ctx, "registry", database_url=url, registry_target=reg.grpc_target) as (svc, wd):
        for i, (label, extra, full) in enumerate(filters):
            rows += await bench_filter(
                ctx,
                http=reg.http,
                db=reg.db,
                service=svc,
                workdir=wd,
                table="projects",
                label=f"projects {label}",
                path="/v1/projects",
                params={**base, **extra},
                headers=headers,
                expect_full=full,
                load=ctx.scale >= 1 or i < SMOKE_LOADED,
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
        async with as_process(ctx, "issues", database_url=url, registry_target=reg.grpc_target) as (proc, wd):
            for i, (label, path, extra, hdrs, full) in enumerate(filters):
                rows += await bench_filter(
                    ctx,
                    http=svc.http,
                    db=svc.db,
                    service=proc,
                    workdir=wd,
                    table="matters",
                    label=f"matters {label}",
                    path=path,
                    params={**base, **extra},
                    headers=hdrs,
                    expect_full=full and n >= ITEMS,
                    load=ctx.scale >= 1 or i < SMOKE_LOADED,
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
