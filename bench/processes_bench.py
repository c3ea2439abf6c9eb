"""What users get: the services as separate processes (``python -m steward.<svc> serve`` with the
dev runner's environment, as ``make run`` starts them), loaded by ``wrk`` from its own process over
loopback, side by side in the same run with a reference process — a plain FastAPI endpoint doing one
INSERT + COMMIT and one JetStream publish (``bench/reference_app.py``).

Rows:
* filing (``POST /v1/matters``) and registration (``POST /v1/projects``) per second, the reference's
  rate under the same load and the ratio; wrk's p50 / p99; CPU milliseconds per operation in each
  process (the service(s), PostgreSQL with its backends, NATS) from ``/proc`` before and after;
* every service's start time to ``/readyz`` (started in parallel), idle CPU in ms per second with
  nothing to do, and resident memory.

``wrk`` comes from Debian's packages (``make wrk`` installs it as root). Every response must be 2xx:
a non-2xx answer or a socket error fails the module (a fast error is not throughput).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.common import BenchContext, Row, percentile
from steward.devtools import runner
from steward.devtools.infra import spawn, terminate
from steward.devtools.services import SERVICES, ServiceSpec, assign_ports, service_env
from steward.kit.auth import mint_dev_token

SECRET = "bench-processes-secret-0123456789abcdef"
CONNECTIONS = 8
ROOT = Path(__file__).resolve().parents[1]

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
{auth}
{pace}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nRESULT {{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
"""


@dataclass
class Load:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    refused: int = 0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0:  # as the Makefile's `wrk` target does
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        cmd = ["apt-get", "install", "-y", "-q", "wrk"]
        if subprocess.run(cmd, env=env, capture_output=True, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
            subprocess.run(cmd, env=env, capture_output=True, check=True)
        found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is missing: run `make wrk` as root (apt-get install wrk)")
    return found


async def wrk(
    url: str,
    body: dict[str, Any],
    token: str | None,
    seconds: float,
    workdir: Path,
    *,
    connections: int = CONNECTIONS,
    refusals: bool = False,
    rate: float | None = None,
) -> Load:
    """``wrk`` with the JSON ``body`` POSTed; every answer must be 2xx unless ``refusals`` (then the
    non-2xx count is returned in ``Load.refused``; socket errors still fail)."""
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"' if token else ""
    script = workdir / f"load-{secrets.token_hex(4)}.lua"
    # paced: each connection waits connections/rate seconds before each request, so the offered rate
    # is ``rate`` whatever the answers (as long as they come faster than that), not "as fast as served"
    pace = f"function delay() return {connections * 1000.0 / rate:.1f} end" if rate else ""
    script.write_text(WRK_SCRIPT.format(body=json.dumps(body, ensure_ascii=False), auth=auth, pace=pace))
    proc = await asyncio.create_subprocess_exec(
        wrk_binary(),
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out = (await proc.communicate())[0].decode(errors="replace")
    line = next((ln for ln in out.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {out[-2000:]}")
    r = json.loads(line.removeprefix("RESULT "))
    kinds = (
        ("connect", "read", "write", "timeout")
        if refusals
        else ("status", "connect", "read", "write", "timeout")
    )
    bad = {k: r[k] for k in kinds if r[k]}
    if bad:
        raise RuntimeError(f"wrk against {url}: non-2xx or socket errors {bad} of {r['requests']} requests")
    return Load(r["requests"], r["duration_us"] / 1e6, r["p50_us"] / 1000, r["p99_us"] / 1000, r["status"])


async def probe(
    url: str, body: dict[str, Any], token: str, seconds: float, rate: float = 20.0
) -> list[tuple[int, float, bool]]:
    """Open-loop requests at ``rate``/s beside the load: (status, seconds, has Retry-After) each —
    wrk's latency mixes the quick refusals with the served requests; this sample separates them."""
    out: list[tuple[int, float, bool]] = []
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:

        async def one() -> None:
            t0 = time.perf_counter()
            try:
                r = await http.post(url, json=body, headers=headers)
            except httpx.HTTPError:
                out.append((0, time.perf_counter() - t0, False))
                return
            out.append((r.status_code, time.perf_counter() - t0, "retry-after" in r.headers))

        tasks = []
        start = time.perf_counter()
        for i in range(max(1, int(seconds * rate))):
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return out


def cpu_seconds(pid: int, *, with_children: bool = False) -> float:
    """User + system CPU of ``pid`` (with its live children and the reaped ones, for PostgreSQL)."""
    proc = psutil.Process(pid)
    t = proc.cpu_times()
    total = t.user + t.system
    if with_children:
        total += t.children_user + t.children_system
        for child in proc.children(recursive=True):
            try:
                c = child.cpu_times()
                total += c.user + c.system
            except psutil.NoSuchProcess:
                pass
    return total


class Meter:
    """CPU seconds of named processes between ``start()`` and ``stop()``."""

    def __init__(self, pids: dict[str, tuple[int, bool]]) -> None:
        self.pids = pids
        self.before: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def sample(self) -> dict[str, float]:
        return {name: cpu_seconds(pid, with_children=tree) for name, (pid, tree) in self.pids.items()}

    def start(self) -> None:
        self.before = self.sample()

    def stop(self) -> dict[str, float]:
        after = self.sample()
        self.used = {k: after[k] - self.before[k] for k in self.pids}
        return self.used


def cpu_note(used: dict[str, float], ops: int) -> str:
    return "CPU ms/op: " + ", ".join(f"{k} {1000 * v / max(ops, 1):.2f}" for k, v in used.items())


@dataclass
class Started:
    spec: ServiceSpec
    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    ready_s: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.spec.http_port}"


def _migrate(spec: ServiceSpec, env: dict[str, str], log: Path) -> None:
    with log.open("ab") as out:
        res = subprocess.run(
            [sys.executable, "-m", spec.module, "migrate"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    if res.returncode != 0:
        raise RuntimeError(f"{spec.name} migrate failed: {log.read_text()[-2000:]}")


def _ready(spec: ServiceSpec, proc: subprocess.Popen[bytes], instance: str, log: Path, t0: float) -> float:
    runner.await_ready(spec, proc, log, 120.0, instance)
    return time.perf_counter() - t0


class Platform:
    """The services as ``make run`` starts them, on a fresh set of databases."""

    def __init__(self, ctx: BenchContext, workdir: Path) -> None:
        self.ctx = ctx
        self.workdir = workdir
        names = ("registry", "issues", "meetings", "scoring", "notify")
        self.specs = {s.name: s for s in assign_ports([s for s in SERVICES if s.name in names])}
        registry_target = f"127.0.0.1:{self.specs['registry'].grpc_port}"
        base = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
        base["STEWARD_ISSUES_GRPC_TARGET"] = f"127.0.0.1:{self.specs['issues'].grpc_port}"
        base["STEWARD_LOG_LEVEL"] = "WARNING"
        self.envs = {
            name: service_env(
                spec,
                database_url=ctx.database_url(f"proc_{name}"),
                nats_url=ctx.nats_url,
                jwt_secret=SECRET,
                registry_grpc_target=registry_target,
                base=base,
            )
            for name, spec in self.specs.items()
        }
        self.running: dict[str, Started] = {}

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    async def migrate(self, names: list[str]) -> None:
        await asyncio.gather(
            *(asyncio.to_thread(_migrate, self.specs[n], self.envs[n], self.log(n)) for n in names)
        )

    async def start(self, names: list[str]) -> float:
        """Start ``names`` in parallel; the wall time until every one answered ``/readyz``."""
        t0 = time.perf_counter()
        # spawned from this thread: a child's parent-death signal follows the thread that started it
        spawned = {n: runner.spawn_service(self.specs[n], self.envs[n], self.log(n)) for n in names}
        waited = await asyncio.gather(
            *(asyncio.to_thread(_ready, self.specs[n], *spawned[n], self.log(n), t0) for n in names)
        )
        for n, ready_s in zip(names, waited, strict=True):
            self.running[n] = Started(self.specs[n], spawned[n][0], self.envs[n], ready_s)
        return time.perf_counter() - t0

    def stop(self) -> None:
        for s in self.running.values():
            terminate(s.proc, timeout=20.0)
        self.running.clear()


class Reference:
    def __init__(self, ctx: BenchContext, workdir: Path) -> None:
        from steward.devtools.infra import free_port

        self.port = free_port()
        self.instance = secrets.token_hex(8)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")},
            "STEWARD_DATABASE_URL": ctx.database_url("reference"),
            "STEWARD_NATS_URL": ctx.nats_url,
            "STEWARD_HTTP_PORT": str(self.port),
            "STEWARD_INSTANCE_ID": self.instance,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        self.log = workdir / "reference.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.proc = spawn([sys.executable, "-m", "bench.reference_app"], log_path=self.log, env=self.env)
        async with httpx.AsyncClient(timeout=2) as http:
            for _ in range(300):
                if self.proc.poll() is not None:
                    raise RuntimeError(f"reference exited: {self.log.read_text()[-2000:]}")
                try:
                    r = await http.get(f"{self.url}/readyz")
                    if r.status_code == 200 and r.json().get("instance") == self.instance:
                        return
                except (httpx.HTTPError, ValueError):
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("reference not ready in 30 s")

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc, timeout=10.0)


async def _drained(nats_url: str, within: float = 300.0) -> float:
    """Seconds until every JetStream consumer has nothing pending or unacknowledged (then 2 s more
    for the last transactions to finish), so idle is measured with nothing left to do."""
    import nats

    t0 = time.perf_counter()
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        quiet = 0
        while time.perf_counter() - t0 < within:
            busy = 0
            for stream in await js.streams_info():
                for info in await js.consumers_info(stream.config.name or ""):
                    busy += (info.num_pending or 0) + (info.num_ack_pending or 0)
            quiet = quiet + 1 if busy == 0 else 0
            if quiet >= 3:
                break
            await asyncio.sleep(0.5)
        else:
            raise RuntimeError(f"consumers still busy after {within:.0f} s")
    finally:
        await nc.close()
    await asyncio.sleep(2.0)
    return time.perf_counter() - t0


def _infra_pids(ctx: BenchContext) -> dict[str, tuple[int, bool]]:
    out: dict[str, tuple[int, bool]] = {}
    pg = getattr(ctx.server, "proc", None)
    if pg is not None and pg.poll() is None:
        out["postgres"] = (pg.pid, True)
    if ctx.nats_pid:
        out["nats"] = (ctx.nats_pid, False)
    return out


async def _setup_tenants(platform: Platform) -> tuple[str, str]:
    """A city tree in the registry's database and one project in a district (over REST)."""
    from steward.kit.db import Database
    from steward.registry.testing import make_tree

    db = Database(platform.envs["registry"]["STEWARD_DATABASE_URL"], pool_size=2)
    try:
        tree = await make_tree(db)
    finally:
        await db.dispose()
    district = tree.districts[0]
    token = mint_dev_token(secret=SECRET, subject="bench", tenant=district, roles=["dispatcher"])
    async with httpx.AsyncClient(base_url=platform.running["registry"].url, timeout=30) as http:
        r = await http.post(
            "/v1/projects",
            json={"tenant": district, "name": "基准项目", "total_investment": "5000万"},
            headers={"Authorization": f"Bearer {token}"},
        )
        if r.status_code != 201:
            raise RuntimeError(f"project: {r.status_code} {r.text[:300]}")
        return district, str(r.json()["id"])


OVERLOAD_CONNECTIONS = 256
OVERLOAD_FACTOR = 4.0


async def _overload(
    url: str, body: dict[str, Any], token: str, *, peak: float, seconds: float, workdir: Path
) -> list[Row]:
    """4× the peak rate offered (wrk -c256, each connection paced), with an open-loop probe beside
    it for the served requests' latency (wrk's mixes them with the quick refusals)."""
    load_task = asyncio.create_task(
        wrk(
            url,
            body,
            token,
            seconds,
            workdir,
            connections=OVERLOAD_CONNECTIONS,
            refusals=True,
            rate=OVERLOAD_FACTOR * peak,
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
        f"wrk -c{OVERLOAD_CONNECTIONS} paced at {OVERLOAD_FACTOR:.0f}× the -c8 peak, {seconds:.0f} s; "
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


async def _compare(
    label: str,
    unit: str,
    *,
    steward: tuple[str, dict[str, Any], str | None],
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
    ref_body = {"title": str(body.get("title") or body.get("name") or "x"), **body}
    await wrk(f"{reference.url}/items", ref_body, None, 1, workdir)
    ref_meter = Meter(ref_pids)
    ref_meter.start()
    ref = await wrk(f"{reference.url}/items", ref_body, None, seconds, workdir)
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
            f"plain FastAPI INSERT+COMMIT+publish, same load; n={ref.requests}; {cpu_note(ref_used, ref.requests)}",
        ),
        Row(f"{label} / reference", ratio, "ratio", "target ≥ 0.5"),
        Row(f"{label} p50", ours.p50_ms, "ms", f"reference {ref.p50_ms:.1f} ms"),
        Row(f"{label} p99", ours.p99_ms, "ms", f"reference {ref.p99_ms:.1f} ms"),
        Row(
            f"{label} CPU per op (all processes)",
            1000 * sum(used.values()) / max(ours.requests, 1),
            "ms",
            f"reference {1000 * sum(ref_used.values()) / max(ref.requests, 1):.2f} ms",
        ),
    ]


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
            district, project = await _setup_tenants(platform)
            infra = _infra_pids(ctx)
            reg, iss = platform.running["registry"], platform.running["issues"]
            ref_pids = {"reference": (reference.proc.pid, False), **infra} if reference.proc else {}
            filer = mint_dev_token(secret=SECRET, subject="bench", tenant=district, roles=["specialist"])
            rows += await _compare(
                "matter filing",
                "matters",
                steward=(
                    f"{iss.url}/v1/matters",
                    {
                        "kind": "obstacle",
                        "project_id": project,
                        "title": "基准问题",
                        "category": "utilities",
                        "tier": "unit",
                    },
                    filer,
                ),
                reference=reference,
                meter_pids={"issues": (iss.proc.pid, False), "registry": (reg.proc.pid, False), **infra},
                ref_pids=ref_pids,
                seconds=seconds,
                workdir=workdir,
            )
            peak = next(r.value for r in rows if r.name == "matter filing throughput")
            rows += await _overload(
                f"{iss.url}/v1/matters",
                {
                    "kind": "obstacle",
                    "project_id": project,
                    "title": "过载",
                    "category": "utilities",
                    "tier": "unit",
                },
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
            drained = await _drained(ctx.nats_url)  # the consumers first work through the load's events
            rows.append(
                Row("backlog drained after the load", drained, "s", "every consumer: 0 pending, 0 unacked")
            )
            pids = {name: (s.proc.pid, False) for name, s in platform.running.items()} | infra
            meter = Meter(pids)
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
