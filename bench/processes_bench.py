"""What users get: the services as separate processes (``python -m steward.<svc> serve`` with the
dev runner's environment, as ``make run`` starts them), loaded by ``wrk`` from its own process over
loopback, side by side in the same run with a reference process — a plain FastAPI endpoint doing one
INSERT + COMMIT and one JetStream publish (``bench/reference_app.py``).

Rows:
* filing (``POST /v1/matters``) and registration (``POST /v1/projects``) per second, the reference's
  rate under the same load and the ratio; wrk's p50 / p99; CPU milliseconds per operation in each
  process (the service(s), PostgreSQL with its backends, NATS) from ``/proc`` before and after;
* filing with 32 clients (more than a process's 20 pooled connections, at its in-flight ceiling,
  so nothing is refused): the rate against the -c8 peak and the p99;
* with every service running, filings paced at 80% of the peak: the time from each filing to the
  message in the project steward's inbox (notify), p50 / p99, and the CPU one filing costs every
  process until the consumers are done (``bench/to_inbox.py``);
* every service's start time to ``/readyz`` (started in parallel), idle CPU in ms per second with
  nothing to do, and resident memory.

``wrk`` comes from Debian's packages (``make wrk`` installs it as root). Every response must be 2xx:
a non-2xx answer or a socket error fails the module (a fast error is not throughput).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.common import BenchContext, Row, percentile
from bench.loadgen import (
    CONNECTIONS,
    Meter,
    cpu_note,
    probe,
    wrk,
    wrk_binary,
)
from bench.procs import (
    SECRET,
    Platform,
    Reference,
    chained,
    drained,
    infra_pids,
    setup_tenants,
)
from bench.to_inbox import to_inbox
from steward.kit.auth import mint_dev_token

OVERLOAD_CONNECTIONS = 256
OVERLOAD_FACTOR = 4.0
MANY_CLIENTS = 32  # above a process's 20 pooled connections, at its in-flight ceiling


async def overload(
    url: str,
    body: dict[str, Any],
    token: str,
    *,
    peak: float,
    seconds: float,
    workdir: Path,
    factor: float = OVERLOAD_FACTOR,
) -> list[Row]:
    """``factor`` (4) × the peak rate offered (wrk -c256, each connection paced), with an open-loop
    probe beside it for the served requests' latency (wrk's mixes them with the quick refusals)."""
    load_task = asyncio.create_task(
        wrk(
            url,
            body,
            token,
            seconds,
            workdir,
            connections=OVERLOAD_CONNECTIONS,
            refusals=True,
            rate=factor * peak,
        )
    )
    await asyncio.sleep(1.0)  # the probe samples the steady overload, not the ramp
    sample = await probe(url, body, token, max(1.0, seconds - 2.0))
    load = await load_task
    served = (load.requests - load.refused) / load.seconds
    offered = load.requests / load.seconds
    ok = [t for status, t, _ in sample if 200 <= status < 300]
    refused = [(status, t, ra) for status, t, ra in sample if status in (429, 503)]
    other = [status for status, _, _ in sample if not (200 <= status < 300 or status in (429, 503))]
    if other:
        raise RuntimeError(f"overload: answers other than 2xx/429/503: {sorted(set(other))}")
    if any(not ra for _, _, ra in refused):
        raise RuntimeError("overload: a refusal without Retry-After")
    how = (
        f"wrk -c{OVERLOAD_CONNECTIONS} paced at {factor:.0f}× the -c8 peak, {seconds:.0f} s; "
        f"offered {offered:.0f}/s = {offered / peak:.1f}× the peak"
    )
    return [
        Row("overload: served", served, "matters/s", how),
        Row("overload: served / peak", served / peak if peak else 0.0, "ratio", "target ≥ 0.9"),
        Row("overload: refused", load.refused / load.seconds, "req/s", "503 overloaded with Retry-After"),
        Row(
            "overload: served p99 (probe)",
            percentile(ok, 99) * 1000,
            "ms",
            f"open-loop probe 20/s; n={len(ok)}; target < 150",
        ),
        Row(
            "overload: refusal p99 (probe)",
            percentile([t for _, t, _ in refused], 99) * 1000,
            "ms",
            f"n={len(refused)}; every refusal had Retry-After",
        ),
    ]


def _filing(project: str, title: str) -> dict[str, Any]:
    return {
        "kind": "obstacle",
        "project_id": project,
        "title": title,
        "category": "utilities",
        "tier": "unit",
    }


async def _more_clients_than_connections(
    url: str, body: dict[str, Any], token: str, *, peak: float, seconds: float, workdir: Path
) -> list[Row]:
    """More clients than a process has pooled connections (20), as many as its in-flight ceiling
    (32): nothing is refused, so the transactions queued for the tenant's number counter must not
    stall those holding it (``steward.kit.keyqueue``: 8 filings/s here before the fix)."""
    load = await wrk(url, body, token, seconds, workdir, connections=MANY_CLIENTS)
    how = f"wrk -c{MANY_CLIENTS}, {seconds:.0f} s, one tenant; n={load.requests}"
    return [
        Row(f"matter filing, {MANY_CLIENTS} clients", load.rate, "matters/s", how),
        Row(
            f"matter filing, {MANY_CLIENTS} clients / -c{CONNECTIONS}",
            load.rate / peak if peak else 0.0,
            "ratio",
            "no stall: close to 1",
        ),
        Row(f"matter filing, {MANY_CLIENTS} clients p99", load.p99_ms, "ms", f"p50 {load.p50_ms:.1f} ms"),
    ]


async def _compare(
    label: str,
    unit: str,
    *,
    steward: tuple[str, dict[str, Any] | None, str | None],
    reference: Reference,
    meter_pids: dict[str, tuple[int, bool]],
    ref_pids: dict[str, tuple[int, bool]],
    seconds: float,
    workdir: Path,
) -> list[Row]:
    url, body, token = steward
    await wrk(url, body, token, 1, workdir)  # warm-up: pools, caches, JIT-free but lazy imports
    meter = Meter(meter_pids)
    meter.start()
    ours = await wrk(url, body, token, seconds, workdir)
    used = meter.stop()
    if body is None:  # a read: the reference's GET of one of its rows by id
        ref_url, ref_body, what = await _reference_item(reference), None, "SELECT by id"
    else:
        ref_body = {"title": str(body.get("title") or body.get("name") or "x"), **body}
        ref_url, what = f"{reference.url}/items", "INSERT+COMMIT+publish"
    await wrk(ref_url, ref_body, None, 1, workdir)
    ref_meter = Meter(ref_pids)
    ref_meter.start()
    ref = await wrk(ref_url, ref_body, None, seconds, workdir)
    ref_used = ref_meter.stop()
    ratio = ours.rate / ref.rate if ref.rate else 0.0
    how = f"wrk -c{CONNECTIONS}, {seconds:.0f} s"
    return [
        Row(
            f"{label} throughput",
            ours.rate,
            f"{unit}/s",
            f"{how}; n={ours.requests}; {cpu_note(used, ours.requests)}",
        ),
        Row(
            f"{label} reference throughput",
            ref.rate,
            "req/s",
            f"plain FastAPI {what}, same load; n={ref.requests}; {cpu_note(ref_used, ref.requests)}",
        ),
        Row(f"{label} / reference", ratio, "ratio", "target ≥ 0.5" if body is not None else "context"),
        Row(f"{label} p50", ours.p50_ms, "ms", f"reference {ref.p50_ms:.1f} ms"),
        Row(f"{label} p99", ours.p99_ms, "ms", f"reference {ref.p99_ms:.1f} ms"),
        Row(
            f"{label} CPU per op (all processes)",
            1000 * sum(used.values()) / max(ours.requests, 1),
            "ms",
            f"reference {1000 * sum(ref_used.values()) / max(ref.requests, 1):.2f} ms",
        ),
    ]


async def _reference_item(reference: Reference) -> str:
    """The URL of one row of the reference's, for its read by id."""
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(f"{reference.url}/items", json={"title": "基准读取"})
        r.raise_for_status()
        return f"{reference.url}/items/{r.json()['id']}"


async def _matter(url: str, body: dict[str, Any], token: str) -> str:
    """One filed matter's URL, for the read rows."""
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
        if r.status_code != 201:
            raise RuntimeError(f"filing for the read rows: {r.status_code} {r.text[:300]}")
        return f"{url}/{r.json()['id']}"


async def run(ctx: BenchContext) -> list[Row]:
    """On a NATS server of its own: durable consumers of the same names as the in-process benches'
    would otherwise first work through those modules' events (their backlog is not this load)."""
    from steward.devtools.natsinfra import LocalNats

    with LocalNats() as nats_server:
        own = BenchContext(
            nats_url=nats_server.url,
            server=ctx.server,
            scale=ctx.scale,
            server_note=ctx.server_note,
            nats_pid=nats_server.proc.pid if nats_server.proc else None,
        )
        try:
            return await _run(own)
        finally:
            ctx.created_databases += own.created_databases


async def _run(ctx: BenchContext) -> list[Row]:
    seconds = max(1.0, 10.0 * ctx.scale)
    idle_seconds = max(1.0, 10.0 * ctx.scale)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="steward-bench-proc-") as tmp:
        workdir = Path(tmp)
        wrk_binary()
        platform = Platform(ctx, workdir)
        reference = Reference(ctx, workdir)
        try:
            await platform.migrate(list(platform.specs))
            first = ["registry", "issues"]
            started = await platform.start(first)
            rows.append(Row("start registry+issues (parallel) to /readyz", started, "s", "migrated before"))
            await reference.start()
            district, project = await setup_tenants(platform)
            infra = infra_pids(ctx)
            reg, iss = platform.running["registry"], platform.running["issues"]
            ref_pids = {"reference": (reference.proc.pid, False), **infra} if reference.proc else {}
            filer = mint_dev_token(secret=SECRET, subject="bench", tenant=district, roles=["specialist"])
            on_issues: dict[str, Any] = {
                "reference": reference,
                "meter_pids": {"issues": (iss.proc.pid, False), "registry": (reg.proc.pid, False), **infra},
                "ref_pids": ref_pids,
                "seconds": seconds,
                "workdir": workdir,
            }
            filing = (f"{iss.url}/v1/matters", _filing(project, "基准问题"), filer)
            rows += await _compare("matter filing", "matters", steward=filing, **on_issues)
            peak = next(r.value for r in rows if r.name == "matter filing throughput")
            read = (await _matter(f"{iss.url}/v1/matters", _filing(project, "读取"), filer), None, filer)
            rows += await _compare("matter read (GET by id)", "reads", steward=read, **on_issues)
            rows += await _more_clients_than_connections(
                f"{iss.url}/v1/matters",
                _filing(project, "多客户端"),
                filer,
                peak=peak,
                seconds=seconds,
                workdir=workdir,
            )
            rows += await overload(
                f"{iss.url}/v1/matters",
                _filing(project, "过载"),
                filer,
                peak=peak,
                seconds=seconds,
                workdir=workdir,
            )
            dispatcher = mint_dev_token(secret=SECRET, subject="bench", tenant=district, roles=["dispatcher"])
            rows += await _compare(
                "project registration",
                "projects",
                steward=(
                    f"{reg.url}/v1/projects",
                    {"tenant": district, "name": "基准登记项目", "total_investment": "5000万"},
                    dispatcher,
                ),
                reference=reference,
                meter_pids={"registry": (reg.proc.pid, False), **infra},
                ref_pids=ref_pids,
                seconds=seconds,
                workdir=workdir,
            )
            reference.stop()
            rest = ["meetings", "scoring", "notify"]
            later = await platform.start(rest)
            rows.append(
                Row("start meetings+scoring+notify (parallel) to /readyz", later, "s", "migrated before")
            )
            for s in platform.running.values():
                rows.append(Row(f"{s.spec.name} start to /readyz", s.ready_s, "s", "python -m … serve"))
            drain_s = await drained(ctx.nats_url)  # the consumers first work through the load's events
            rows.append(
                Row("backlog drained after the load", drain_s, "s", "every consumer: 0 pending, 0 unacked")
            )
            every = {name: (s.proc.pid, False) for name, s in platform.running.items()} | infra
            rows += await to_inbox(
                platform,
                f"{iss.url}/v1/matters",
                _filing(project, "到达收件箱"),
                filer,
                peak=peak,
                seconds=seconds,
                workdir=workdir,
                meter_pids=every,
            )
            await drained(ctx.nats_url)  # idle is measured with nothing left to do
            rows.append(
                Row(
                    "audit chain caught up after the load",
                    await chained(platform),
                    "s",
                    "every service's unchained audit entries: 0 (chainer rounds every 5 s)",
                )
            )
            meter = Meter(every)
            meter.start()
            await asyncio.sleep(idle_seconds)
            used = meter.stop()
            for name, cpu in used.items():
                rows.append(
                    Row(
                        f"idle CPU {name}",
                        1000 * cpu / idle_seconds,
                        "ms/s",
                        f"over {idle_seconds:.0f} s; target < 5 for a service",
                    )
                )
            for name, s in platform.running.items():
                rss = psutil.Process(s.proc.pid).memory_info().rss / (1024 * 1024)
                rows.append(Row(f"RSS {name}", rss, "MiB", "resident, after the load; target < 120"))
        finally:
            reference.stop()
            platform.stop()
    return rows
