"""Registry over loopback: a real registry (uvicorn + grpc.aio + outbox relay) in this event loop,
driven by several concurrent httpx / gRPC clients with bounded request counts.

Rows: project registration throughput and latency (REST, 8 clients); batch registration
(``POST /v1/projects/bulk``, 1,000 per request) and the spreadsheet import (``POST
/v1/projects/import``, a 10,000-row .xlsx) in projects/s, each beside the single registration of the
same run and the ratio; a page of 50 projects in a
tenant subtree holding 20,000 projects (bulk-inserted with SQL); gRPC GetProject; effective-rules
resolution (the registry's merged-document cache, and the client-side cache of
``RegistryClient.rules``); peak RSS of the benchmark process.
"""

from __future__ import annotations

import asyncio
import io
import time

import sqlalchemy as sa
from openpyxl import Workbook

from bench.common import BenchContext, Row, latency_rows, measure, peak_rss_mib
from steward.api.registry.v1 import registry_pb2 as pb
from steward.api.registry.v1 import registry_pb2_grpc as pb_grpc
from steward.kit.auth import service_token
from steward.kit.clients.registry import RegistryClient
from steward.kit.grpc import bearer_metadata, client_channel
from steward.kit.settings import ServiceSettings
from steward.registry.testing import SECRET, Registry, make_tree
from steward.rules import preset_override

CONCURRENCY = 8
PAGE = 50
SUBTREE_PROJECTS = 20_000
INVESTMENTS = ("800万", "2500万", "6000万", "1.2亿", "3亿")

# Columns of ``projects`` as in services/registry/migrations/versions/0001_initial_registry_schema.py.
BULK_INSERT = sa.text(
    """
    INSERT INTO projects (
        id, code, tenant_code, tenant_path, name, owner_unit_id, total_investment,
        annual_plan_investment, funding_type, industry, key_level, major, stage,
        stage_before_suspension, tier, on_platform, steward_required, named_responsibility,
        derivation, lat, lon, address, planned_start, planned_completion, created_by,
        created_at, updated_at, row_version
    )
    SELECT
        gen_random_uuid(),
        codes[1 + g % cardinality(codes)] || '-2025-' || lpad(g::text, 6, '0'),
        codes[1 + g % cardinality(codes)],
        paths[1 + g % cardinality(codes)],
        '基准项目' || g,
        NULL,
        (5000000 + (g % 300) * 1000000)::numeric(20, 2),
        NULL,
        (ARRAY['enterprise', 'government', 'ppp'])[1 + g % 3],
        (ARRAY['先进制造', '新能源', '现代服务业', '基础设施'])[1 + g % 4],
        (ARRAY['none', 'district', 'city', 'provincial'])[1 + g % 4],
        g % 10 = 0,
        (ARRAY['negotiating', 'signed', 'preparing', 'new_start', 'continuing', 'completed',
               'operating'])[1 + g % 7],
        NULL,
        (ARRAY['zone', 'district', 'city'])[1 + g % 3],
        true,
        g % 2 = 0,
        g % 5 = 0,
        '{"source": "bench"}'::jsonb,
        41.7 + (g % 1000) * 0.0002,
        123.3 + (g % 1000) * 0.0002,
        '基准地址' || g,
        DATE '2025-03-01' + (g % 365),
        DATE '2027-12-31',
        'bench',
        now() - make_interval(secs => g),
        now() - make_interval(secs => g),
        1
    FROM generate_series(1, CAST(:n AS integer)) AS g,
         (SELECT CAST(:codes AS text[]) AS codes, CAST(:paths AS text[]) AS paths) AS t
    """
)


async def bulk_projects(reg: Registry, tenants: list[str], n: int) -> None:
    async with reg.db.transaction() as session:
        paths = [
            (
                await session.execute(sa.text("SELECT path FROM tenants WHERE code = :c"), {"c": c})
            ).scalar_one()
            for c in tenants
        ]
        await session.execute(BULK_INSERT, {"n": n, "codes": tenants, "paths": paths})
    async with reg.db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text("ANALYZE projects"))


def expect(status: int, want: int, body: str) -> None:
    if status != want:
        raise RuntimeError(f"expected HTTP {want}, got {status}: {body[:300]}")


async def bench_registration(ctx: BenchContext, reg: Registry) -> list[Row]:
    tree = await make_tree(reg)
    tenants = [*tree.districts, tree.zone, tree.township]
    headers = {t: reg.auth(t, "dispatcher") for t in tenants}

    async def register(i: int) -> None:
        t = tenants[i % len(tenants)]
        r = await reg.http.post(
            "/v1/projects",
            json={"tenant": t, "name": f"注册基准{i}", "total_investment": INVESTMENTS[i % len(INVESTMENTS)]},
            headers=headers[t],
        )
        expect(r.status_code, 201, r.text)

    await measure(register, count=min(16, ctx.scaled(16)), concurrency=CONCURRENCY)  # warm-up
    n = ctx.scaled(400, minimum=CONCURRENCY)
    timing = await measure(register, count=n, concurrency=CONCURRENCY)
    note = f"REST POST /v1/projects, {CONCURRENCY} clients, {len(tenants)} tenants, event in outbox"
    return [
        Row("project register throughput", timing.rate, "projects/s", f"{note}; n={n}"),
        *latency_rows("project register", timing, f"{CONCURRENCY} clients"),
    ]


BATCH = 1000
BATCHES = 10
SHEET_ROWS = 10_000
SHEET_HEADERS = (
    "序号",
    "项目名称",
    "所属地区",
    "总投资（万元）",
    "资金来源",
    "行业",
    "重点级别",
    "重大项目",
    "项目阶段",
    "建设地点",
    "经度",
    "纬度",
    "计划开工",
    "计划竣工",
)


def project_sheet(tenants: list[str], rows: int) -> bytes:
    """A district's project sheet as an office keeps it: a title row, Chinese headers, 万元."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("项目清单")
    ws.append(["2026年重点项目清单"])
    ws.append(list(SHEET_HEADERS))
    for i in range(rows):
        ws.append(
            [
                i + 1,
                f"导入基准项目{i}",
                tenants[i % len(tenants)],
                (500, 800, 2500, 6000, 12000)[i % 5],
                ("企业投资", "政府投资", "PPP")[i % 3],
                "先进制造",
                ("区级", "市级", "无")[i % 3],
                "否",
                ("签约", "前期", "新开工")[i % 3],
                f"创新路{i}号",
                123.4 + (i % 100) / 1000,
                41.7 + (i % 100) / 1000,
                "2026-03-01",
                "2027-12-31",
            ]
        )
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


DRAIN_SECONDS = 120.0


async def drain_outbox(reg: Registry) -> None:
    """Wait until the relay published every pending event: a timed phase does not pay for the
    previous phase's backlog (its own events are published while it runs, as in service)."""
    deadline = time.monotonic() + DRAIN_SECONDS
    while True:
        async with reg.db.read() as session:
            pending = (
                await session.execute(
                    sa.text("SELECT count(*) FROM steward_outbox WHERE published_at IS NULL")
                )
            ).scalar_one()
        if not pending:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{pending} outbox events still pending after {DRAIN_SECONDS:.0f} s")
        await asyncio.sleep(0.1)


async def bench_bulk(ctx: BenchContext, reg: Registry, single_rate: float) -> list[Row]:
    tree = await make_tree(reg)
    tenants = [*tree.districts, tree.zone, tree.township]
    headers = reg.auth(tree.city, "dispatcher")
    size = ctx.scaled(BATCH, minimum=10)
    batches = ctx.scaled(BATCHES, minimum=1)

    async def batch(i: int) -> None:
        items = [
            {
                "tenant": tenants[j % len(tenants)],
                "name": f"批量基准{i}-{j}",
                "total_investment": INVESTMENTS[j % 5],
            }
            for j in range(size)
        ]
        r = await reg.http.post("/v1/projects/bulk", json={"items": items}, headers=headers, timeout=120)
        expect(r.status_code, 201, r.text)

    await measure(batch, count=1)  # warm-up
    await drain_outbox(reg)
    cpu0 = time.process_time()
    timing = await measure(batch, count=batches, concurrency=1)
    bulk_cpu = (time.process_time() - cpu0) * 1000 / (batches * size)
    bulk_rate = batches * size / timing.wall

    rows = ctx.scaled(SHEET_ROWS, minimum=20)
    sheet = project_sheet(tenants, rows)
    files = {
        "file": ("项目清单.xlsx", sheet, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    }
    r = await reg.http.post(
        "/v1/projects/import", params={"dry_run": "true"}, files=files, headers=headers, timeout=120
    )  # warm-up, writes nothing
    expect(r.status_code, 200, r.text)
    await drain_outbox(reg)
    t0, cpu0 = time.perf_counter(), time.process_time()
    r = await reg.http.post("/v1/projects/import", files=files, headers=headers, timeout=120)
    wall = time.perf_counter() - t0
    import_cpu = (time.process_time() - cpu0) * 1000 / rows
    expect(r.status_code, 200, r.text)
    if r.json()["created"] != rows:
        raise RuntimeError(f"imported {r.json()['created']} of {rows} rows")
    import_rate = rows / wall
    same = "single POST /v1/projects of the same run"
    cpu = "CPU of the bench process (client, registry and its outbox relay; PostgreSQL and NATS not counted)"
    return [
        Row(
            "bulk register throughput",
            bulk_rate,
            "projects/s",
            f"POST /v1/projects/bulk, {batches} requests of {size} (1 client), {len(tenants)} tenants",
        ),
        *latency_rows(f"bulk register ({size} per request)", timing, "whole request"),
        Row("bulk register / single register", bulk_rate / single_rate if single_rate else 0.0, "x", same),
        Row("bulk register CPU per project", bulk_cpu, "ms", cpu),
        Row(
            "xlsx import throughput",
            import_rate,
            "projects/s",
            f"POST /v1/projects/import, one {rows:,}-row .xlsx ({len(sheet) / 1024:.0f} KiB), {wall:.2f} s",
        ),
        Row("xlsx import / single register", import_rate / single_rate if single_rate else 0.0, "x", same),
        Row("xlsx import CPU per project", import_cpu, "ms", cpu),
    ]


async def bench_list(ctx: BenchContext, reg: Registry) -> tuple[list[Row], list[str]]:
    tree = await make_tree(reg)
    n = ctx.scaled(SUBTREE_PROJECTS, minimum=PAGE)
    await bulk_projects(reg, [tree.city, *tree.districts, tree.zone, tree.township], n)
    headers = reg.auth(tree.city, "tenant_admin")
    params: dict[str, str | int] = {"tenant": tree.city, "limit": PAGE}

    async def page(_: int) -> None:
        r = await reg.http.get("/v1/projects", params=params, headers=headers)
        expect(r.status_code, 200, r.text)
        if len(r.json()["items"]) != PAGE:
            raise RuntimeError(f"expected a page of {PAGE}, got {len(r.json()['items'])}")

    await measure(page, count=10, concurrency=2)  # warm-up
    single = await measure(page, count=ctx.scaled(200, minimum=5), concurrency=1)
    many = await measure(page, count=ctx.scaled(400, minimum=CONCURRENCY), concurrency=CONCURRENCY)
    where = f"page of {PAGE}, newest first, subtree of {n:,} projects"
    async with reg.db.read() as session:
        codes = list(
            (
                await session.execute(
                    sa.text(
                        "SELECT code FROM projects WHERE created_by = 'bench' ORDER BY random() LIMIT 1000"
                    )
                )
            ).scalars()
        )
    return [
        *latency_rows("project list (1 client)", single, where),
        *latency_rows(f"project list ({CONCURRENCY} clients)", many, where),
        Row("project list throughput", many.rate, "pages/s", f"{CONCURRENCY} clients"),
    ], codes


async def bench_grpc(ctx: BenchContext, reg: Registry, codes: list[str]) -> list[Row]:
    md = bearer_metadata(service_token(reg.settings))
    channel = client_channel(reg.grpc_target)
    stub = pb_grpc.RegistryServiceStub(channel)
    try:

        async def get(i: int) -> None:
            p = await stub.GetProject(
                pb.GetProjectRequest(id_or_code=codes[i % len(codes)]), metadata=md, timeout=5
            )
            if p.code != codes[i % len(codes)]:
                raise RuntimeError(f"GetProject returned {p.code}")

        await measure(get, count=20, concurrency=CONCURRENCY)  # warm-up
        single = await measure(get, count=ctx.scaled(300, minimum=5))
        timing = await measure(get, count=ctx.scaled(2000, minimum=CONCURRENCY), concurrency=CONCURRENCY)

        tree = await make_tree(
            reg, rules={"city": preset_override("shenyang"), "d2": preset_override("huiji")}
        )

        async def rules(_: int) -> None:
            r = await stub.GetEffectiveRules(
                pb.GetEffectiveRulesRequest(tenant=tree.township), metadata=md, timeout=5
            )
            if not r.document_json:
                raise RuntimeError("empty rules document")

        await measure(rules, count=5)  # fills the registry's merged-document cache
        server_rules = await measure(rules, count=ctx.scaled(500, minimum=5), concurrency=1)
        rows = [
            *latency_rows("gRPC GetProject (1 client)", single, "by code, service token"),
            *latency_rows(f"gRPC GetProject ({CONCURRENCY} clients)", timing, "by code, service token"),
            Row("gRPC GetProject throughput", timing.rate, "calls/s", f"{CONCURRENCY} clients"),
            *latency_rows(
                "effective rules (registry, cached fold)",
                server_rules,
                "gRPC GetEffectiveRules of a township under 2 rule versions; 1 client",
            ),
        ]
    finally:
        await channel.close()

    client = RegistryClient(
        ServiceSettings(registry_grpc_target=reg.grpc_target, jwt_dev_secret=SECRET, service_name="bench")
    )
    try:
        await client.rules(tree.township)  # first call fills the client cache

        async def cached(_: int) -> None:
            await client.rules(tree.township)

        hits = await measure(cached, count=ctx.scaled(20_000, minimum=100))
    finally:
        await client.close()
    rows.append(
        Row(
            "effective rules (RegistryClient cache hit) p50",
            hits.ms(50) * 1000,
            "µs",
            f"RegistryClient.rules(), TTL cache in the calling service; n={hits.count}",
        )
    )
    return rows


async def run(ctx: BenchContext) -> list[Row]:
    rows: list[Row] = []
    async with ctx.run_registry() as reg:
        registration = await bench_registration(ctx, reg)
        rows += registration
        rows += await bench_bulk(ctx, reg, registration[0].value)
        listed, codes = await bench_list(ctx, reg)
        rows += listed
        rows += await bench_grpc(ctx, reg, codes)
    rows.append(
        Row(
            "peak RSS (bench process)",
            peak_rss_mib(),
            "MiB",
            "getrusage ru_maxrss after the registry bench (clients and registry in one process)",
        )
    )
    return rows
