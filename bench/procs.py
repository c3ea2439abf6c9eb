"""The services as processes for the benchmarks: started as `make run` starts them (the dev runner's
environment, migrated first, spawned side by side and each waited for on its own ``/readyz``), the
reference app beside them, a city tree with a project to load, and the wait for every consumer's
backlog."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.common import BenchContext
from steward.devtools import runner
from steward.devtools.infra import spawn, terminate
from steward.devtools.services import SERVICES, ServiceSpec, assign_ports, service_env
from steward.kit.auth import mint_dev_token

SECRET = "bench-processes-secret-0123456789abcdef"
STEWARD_SUBJECT = "u-bench-steward"  # the project's steward: each filing is a message in this inbox
ROOT = Path(__file__).resolve().parents[1]


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


def _base_env() -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
    base["STEWARD_LOG_LEVEL"] = "WARNING"
    return base


async def service_process(
    ctx: BenchContext, name: str, *, database_url: str, registry_target: str, jwt_secret: str, workdir: Path
) -> Started:
    """One service as ``make run`` starts it (the dev runner's environment, its own ports), on a
    database the bench has already migrated and filled; stop it with ``terminate(started.proc)``."""
    spec = assign_ports([s for s in SERVICES if s.name == name])[0]
    env = service_env(
        spec,
        database_url=database_url,
        nats_url=ctx.nats_url,
        jwt_secret=jwt_secret,
        registry_grpc_target=registry_target,
        base=_base_env(),
    )
    log = workdir / f"{name}-process.log"
    t0 = time.perf_counter()
    proc, instance = runner.spawn_service(spec, env, log)
    ready_s = await asyncio.to_thread(_ready, spec, proc, instance, log, t0)
    return Started(spec, proc, env, ready_s)


class Platform:
    """The services as ``make run`` starts them, on a fresh set of databases."""

    def __init__(self, ctx: BenchContext, workdir: Path) -> None:
        self.ctx = ctx
        self.workdir = workdir
        names = ("registry", "issues", "meetings", "scoring", "notify")
        self.specs = {s.name: s for s in assign_ports([s for s in SERVICES if s.name in names])}
        registry_target = f"127.0.0.1:{self.specs['registry'].grpc_port}"
        base = _base_env()
        base["STEWARD_ISSUES_GRPC_TARGET"] = f"127.0.0.1:{self.specs['issues'].grpc_port}"
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


async def drained(nats_url: str, within: float = 300.0) -> float:
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


_UNCHAINED = (
    "SELECT count(*) FROM steward_audit a WHERE (a.at, a.id) > coalesce("
    "(SELECT (entry_at, audit_id) FROM steward_audit_chain ORDER BY entry_at DESC, audit_id DESC LIMIT 1), "
    "('-infinity'::timestamptz, '00000000-0000-0000-0000-000000000000'::uuid))"
)


async def chained(platform: Platform, within: float = 120.0) -> float:
    """Seconds until every running service's audit chainer has chained what the load wrote
    (``steward.kit.audit_chain``: rounds every few seconds, so it lags a busy writer a little), so
    idle is measured with nothing left to do."""
    import asyncpg

    from steward.kit.db import asyncpg_dsn

    t0 = time.perf_counter()
    urls = [platform.envs[name]["STEWARD_DATABASE_URL"] for name in platform.running]
    conns = [await asyncpg.connect(asyncpg_dsn(url)) for url in urls]
    backends = [int(await c.fetchval("SELECT pg_backend_pid()")) for c in conns]
    try:
        while time.perf_counter() - t0 < within:
            left = [int(await c.fetchval(_UNCHAINED)) for c in conns]
            if not any(left):
                break
            await asyncio.sleep(0.5)
        else:
            raise RuntimeError(f"audit entries still unchained after {within:.0f} s: {left}")
    finally:
        for c in conns:
            await c.close()
    waited = time.perf_counter() - t0
    # the backends of these connections must be gone before idle is measured: one still exiting when
    # a Meter starts is not counted among PostgreSQL's live processes, then its whole CPU (seconds
    # of polling) appears among the reaped ones (idle PostgreSQL read 77 ms/s instead of 5)
    local = getattr(platform.ctx.server, "proc", None) is not None  # an external server: not ours to see
    for _ in range(100 if local else 0):
        if not any(psutil.pid_exists(pid) for pid in backends):  # exited and reaped
            break
        await asyncio.sleep(0.05)
    return waited


def infra_pids(ctx: BenchContext) -> dict[str, tuple[int, bool]]:
    out: dict[str, tuple[int, bool]] = {}
    pg = getattr(ctx.server, "proc", None)
    if pg is not None and pg.poll() is None:
        out["postgres"] = (pg.pid, True)
    if ctx.nats_pid:
        out["nats"] = (ctx.nats_pid, False)
    return out


async def setup_tenants(platform: Platform) -> tuple[str, str]:
    """A city tree in the registry's database and one project in a district (over REST), with a
    steward on its roster (so each filing is a message in the steward's inbox)."""
    from steward.kit.db import Database
    from steward.registry.testing import make_tree

    db = Database(platform.envs["registry"]["STEWARD_DATABASE_URL"], pool_size=2)
    try:
        tree = await make_tree(db)
    finally:
        await db.dispose()
    district = tree.districts[0]

    def auth(role: str) -> dict[str, str]:
        token = mint_dev_token(secret=SECRET, subject="bench", tenant=district, roles=[role])
        return {"Authorization": f"Bearer {token}"}

    async with httpx.AsyncClient(base_url=platform.running["registry"].url, timeout=30) as http:

        async def created(path: str, body: dict[str, Any], role: str) -> dict[str, Any]:
            r = await http.post(path, json=body, headers=auth(role))
            if r.status_code != 201:
                raise RuntimeError(f"{path}: {r.status_code} {r.text[:300]}")
            return dict(r.json())

        project = await created(
            "/v1/projects",
            {"tenant": district, "name": "基准项目", "total_investment": "5000万"},
            "dispatcher",
        )
        steward = await created(
            "/v1/people",
            {"tenant": district, "name": "基准管家", "subject": STEWARD_SUBJECT},
            "tenant_admin",
        )
        await created(
            f"/v1/projects/{project['id']}/roster",
            {"role_key": "steward", "person_id": steward["id"]},
            "dispatcher",
        )
        return district, str(project["id"])
