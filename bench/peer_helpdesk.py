"""Against the peer: Steward's matter filing beside django-helpdesk's ticket API, same load, one run.

``uv run --frozen python -m bench.peer_helpdesk [--seconds 10] [--rounds 3] [--workers 1 2] [--json out.json]``

django-helpdesk 2.6.1 (the ticket tracker a city would otherwise install) is set up in a virtual
environment of its own under ``.steward/peer/helpdesk`` (git-ignored; made with ``uv venv`` and
``uv pip install`` of pinned versions from PyPI on the first run, reused after that). Nothing of it
is committed: a small Django project (settings, urls, wsgi, a ``Bearer`` token class) is written
into that folder at run time. Not a ``*_bench.py`` module: ``python -m bench`` and the smoke test
never install anything from PyPI.

One run, one PostgreSQL (embedded with fsync off as ``python -m bench`` starts it, or
``STEWARD_DATABASE_URL``), one NATS (``STEWARD_NATS_URL`` or embedded):

1. Steward: registry and issues as separate processes (``bench.procs.Platform``, as
   ``make run`` starts them), a city tree and a project; ``POST /v1/matters`` under ``wrk -c8``
   for ``--seconds`` after a 1 s warm-up — 2 server processes (issues + registry).
2. django-helpdesk on its own database on the same server: migrated, a staff user with a DRF token,
   a queue; served by gunicorn (sync workers, DEBUG off) with 1 and then 2 workers;
   ``POST /helpdesk/api/tickets/`` (its ``TicketViewSet``: ``TicketForm`` → ticket, follow-up,
   e-mail roles, backlinks; the created ticket with its follow-ups as the answer) under the same
   ``wrk`` load.

The sides alternate ``--rounds`` times (Steward's processes are stopped while the peer runs and
restarted for its next round); each side's rate is its median round. Every answer must be 2xx
(``wrk``'s status errors fail the run; the peer's database must then hold at least as many tickets
as were answered). CPU ms per item in each process (the services or gunicorn's master with its
workers, PostgreSQL with its backends, NATS) from ``/proc`` before and after. The numbers are
printed, not asserted: exit 0 when both sides were measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.common import BenchContext, Row
from bench.helpdesk_site import (
    COUNT_SCRIPT,
    PEER_DIR,
    SETUP_SCRIPT,
    Gunicorn,
    PeerSite,
    ensure_venv,
    parse_marker,
    ticket_body,
    write_site,
)
from bench.loadgen import CONNECTIONS, Load, Meter, cpu_note, wrk, wrk_binary
from bench.procs import SECRET, Platform, infra_pids, setup_tenants
from steward.kit.auth import mint_dev_token

# --------------------------------------------------------------------------- measuring

MATTER = {
    "kind": "obstacle",
    "title": "基准问题",
    "category": "utilities",
    "tier": "unit",
}


def ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


@dataclass
class Side:
    """One side's load and CPU over one or more rounds (rate: the median round's)."""

    label: str
    processes: int
    loads: list[Load]
    cpu: dict[str, float]

    @property
    def requests(self) -> int:
        return sum(x.requests for x in self.loads)

    @property
    def rate(self) -> float:
        return statistics.median(x.rate for x in self.loads) if self.loads else 0.0

    @property
    def p50_ms(self) -> float:
        return statistics.median(x.p50_ms for x in self.loads) if self.loads else 0.0

    @property
    def p99_ms(self) -> float:
        return max((x.p99_ms for x in self.loads), default=0.0)

    @property
    def cpu_ms_per_item(self) -> float:
        return 1000 * sum(self.cpu.values()) / max(self.requests, 1)

    def add(self, load: Load, cpu: dict[str, float]) -> None:
        self.loads.append(load)
        for k, v in cpu.items():
            self.cpu[k] = self.cpu.get(k, 0.0) + v

    def rounds_note(self) -> str:
        return (
            "" if len(self.loads) < 2 else "rounds " + " / ".join(f"{x.rate:.1f}" for x in self.loads) + "; "
        )


async def measure(
    side: Side,
    url: str,
    body: dict[str, Any],
    token: str,
    pids: dict[str, tuple[int, bool]],
    seconds: float,
    workdir: Path,
) -> None:
    await wrk(url, body, token, 1, workdir)  # warm-up: pools, caches, lazy imports
    meter = Meter(pids)
    meter.start()
    load = await wrk(url, body, token, seconds, workdir)
    side.add(load, meter.stop())


class Steward:
    """Registry and issues as processes (``Platform``); stopped while the peer is measured."""

    def __init__(self, ctx: BenchContext, workdir: Path) -> None:
        self.ctx = ctx
        self.platform = Platform(ctx, workdir)
        self.names = ["registry", "issues"]
        self.migrated = False
        self.target: tuple[str, dict[str, Any], str] | None = None

    async def measure(self, side: Side, seconds: float, workdir: Path) -> None:
        if not self.migrated:
            await self.platform.migrate(self.names)
            self.migrated = True
        await self.platform.start(self.names)
        try:
            if self.target is None:
                district, project = await setup_tenants(self.platform)
                token = mint_dev_token(secret=SECRET, subject="bench", tenant=district, roles=["specialist"])
                iss = self.platform.running["issues"]
                self.target = (f"{iss.url}/v1/matters", {**MATTER, "project_id": project}, token)
            reg, iss = self.platform.running["registry"], self.platform.running["issues"]
            pids = {
                "issues": (iss.proc.pid, False),
                "registry": (reg.proc.pid, False),
                **infra_pids(self.ctx),
            }
            url, body, token = self.target
            # the port is the same after a restart (assigned once): the URL stays valid
            await measure(side, url, body, token, pids, seconds, workdir)
        finally:
            self.platform.stop()


class Peer:
    """django-helpdesk on its own database of the same server, migrated once."""

    def __init__(self, ctx: BenchContext, workdir: Path, console: Console) -> None:
        self.ctx = ctx
        self.workdir = workdir
        self.console = console
        self.site: PeerSite | None = None
        self.token = ""
        self.queue = 0

    async def prepare(self) -> None:
        python = await asyncio.to_thread(ensure_venv, PEER_DIR, self.console)
        self.site = write_site(python, self.ctx.database_url("helpdesk"))
        t0 = time.perf_counter()
        await asyncio.to_thread(self.site.run, ["-m", "django", "migrate", "--noinput"], "migrate")
        self.console.print(f"peer: django-helpdesk migrated in {time.perf_counter() - t0:.1f} s")
        made = json.loads(parse_marker(await asyncio.to_thread(self.site.run, ["-c", SETUP_SCRIPT], "setup")))
        self.token, self.queue = str(made["token"]), int(made["queue"])

    async def measure(self, side: Side, workers: int, seconds: float) -> None:
        assert self.site is not None, "prepare() first"
        server = Gunicorn(self.site, workers, self.workdir / f"gunicorn-{workers}.log")
        try:
            await server.start(self.token)
            assert server.proc is not None
            postgres = {k: v for k, v in infra_pids(self.ctx).items() if k == "postgres"}
            await measure(
                side,
                f"{server.url}/helpdesk/api/tickets/",
                ticket_body(self.queue),
                self.token,
                {"gunicorn": (server.proc.pid, True), **postgres},
                seconds,
                self.workdir,
            )
        finally:
            server.stop()

    async def counts(self) -> tuple[int, int]:
        assert self.site is not None, "prepare() first"
        out = await asyncio.to_thread(self.site.run, ["-c", COUNT_SCRIPT], "count")
        tickets, followups = parse_marker(out).split()
        return int(tickets), int(followups)


def _workers(n: int) -> str:
    return f"{n} worker{'s' if n != 1 else ''}"


def rows(steward: Side, peers: list[Side], seconds: float) -> list[Row]:
    how = f"wrk -c{CONNECTIONS}, {seconds:.0f} s after 1 s warm-up"
    if len(steward.loads) > 1:
        how += f", median of {len(steward.loads)} rounds"
    out = [
        Row(
            f"{steward.label} filings/s",
            steward.rate,
            "matters/s",
            f"{how}; {steward.rounds_note()}n={steward.requests}; p50 {steward.p50_ms:.1f} ms, p99 "
            f"{steward.p99_ms:.1f} ms; {cpu_note(steward.cpu, steward.requests)}",
        ),
        Row(
            "Steward CPU per filing (all processes)", steward.cpu_ms_per_item, "ms", "incl. PostgreSQL, NATS"
        ),
    ]
    for p in peers:
        out += [
            Row(
                f"{p.label} tickets/s",
                p.rate,
                "tickets/s",
                f"{how}; {p.rounds_note()}n={p.requests}; p50 {p.p50_ms:.1f} ms, p99 {p.p99_ms:.1f} ms; "
                f"{cpu_note(p.cpu, p.requests)}",
            ),
            Row(
                f"helpdesk ({_workers(p.processes)}) CPU per ticket (all processes)",
                p.cpu_ms_per_item,
                "ms",
                "incl. PostgreSQL",
            ),
            Row(
                f"Steward / helpdesk ({_workers(p.processes)})",
                ratio(steward.rate, p.rate),
                "ratio",
                "target ≥ 3 with the same number of server processes"
                if p.processes == steward.processes
                else f"Steward {steward.processes} processes vs {p.processes}",
            ),
            Row(
                f"helpdesk ({_workers(p.processes)}) CPU per ticket / Steward CPU per filing",
                ratio(p.cpu_ms_per_item, steward.cpu_ms_per_item),
                "ratio",
                "all processes on each side: the work per item, whatever else the machine runs",
            ),
        ]
    return out


async def run(seconds: float, workers: list[int], rounds: int, console: Console) -> list[Row]:
    from steward.devtools.infra import ExternalNats, ExternalPostgres, database_server, nats_server

    pg = database_server(fast_unsafe=True)
    try:
        nats_srv = nats_server()
        try:
            ctx = BenchContext(
                nats_url=nats_srv.url,
                server=pg,
                server_note="external" if isinstance(pg, ExternalPostgres) else "embedded, fsync off",
                nats_pid=None if isinstance(nats_srv, ExternalNats) else getattr(nats_srv.proc, "pid", None),
            )
            try:
                with tempfile.TemporaryDirectory(prefix="steward-peer-") as tmp:
                    workdir = Path(tmp)
                    wrk_binary()
                    peer = Peer(ctx, workdir, console)
                    await peer.prepare()
                    steward = Steward(ctx, workdir)
                    ours = Side("Steward POST /v1/matters (issues + registry)", 2, [], {})
                    theirs = [
                        Side(
                            f"django-helpdesk POST /helpdesk/api/tickets/ (gunicorn, {_workers(n)})",
                            n,
                            [],
                            {},
                        )
                        for n in workers
                    ]
                    for i in range(rounds):  # the sides alternate: load from elsewhere hits both alike
                        await steward.measure(ours, seconds, workdir)
                        line = f"peer: round {i + 1}: Steward {ours.loads[-1].rate:.1f}/s"
                        for n, side in zip(workers, theirs, strict=True):
                            await peer.measure(side, n, seconds)
                            line += f", helpdesk ({_workers(n)}) {side.loads[-1].rate:.1f}/s"
                        console.print(line)
                    out = rows(ours, theirs, seconds)
                    tickets, followups = await peer.counts()
                    answered = sum(s.requests for s in theirs)
                    out.append(
                        Row(
                            "helpdesk tickets in its database",
                            tickets,
                            "tickets",
                            f"≥ {answered} answered 2xx in the measured runs (+ warm-ups); {followups} follow-ups",
                        )
                    )
                    if tickets < answered:
                        raise RuntimeError(f"helpdesk has {tickets} tickets, {answered} were answered 2xx")
                    return out
            finally:
                ctx.drop_databases()
        finally:
            nats_srv.stop()
    finally:
        pg.stop()


def _fmt(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.peer_helpdesk", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10.0, help="wrk duration per side (default 10)")
    p.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="gunicorn worker counts (default 1 2)"
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="alternate the sides this many times; the median rate (default 3)",
    )
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the results as JSON")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.seconds < 1 or min(args.workers) < 1:
        p.error("--rounds, --seconds and --workers must be ≥ 1")
    from bench.__main__ import machine_info

    console = Console() if sys.stdout.isatty() else Console(width=160)
    info = machine_info() | {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out = asyncio.run(run(args.seconds, args.workers, args.rounds, console))
    info["load_after"] = round(os.getloadavg()[0], 2)
    table = Table(
        title="Steward against django-helpdesk 2.6.1 (same PostgreSQL, same wrk load, one run)",
        caption=(
            f"{info['cores']} cores ({info['usable_cores']} usable) · {info['cpu']} · {info['memory_gib']} GiB · "
            f"Python {info['python']} · load avg (1 min) {info['load_before']} before, {info['load_after']} after"
        ),
        caption_justify="left",
    )
    table.add_column("name")
    table.add_column("value", justify="right")
    table.add_column("unit")
    table.add_column("note", overflow="fold")
    for r in out:
        table.add_row(r.name, _fmt(r.value), r.unit, r.note)
    console.print(table)
    if args.json:
        doc = {"machine": info, "rows": [asdict(r) for r in out]}
        args.json.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        console.print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
