"""``python -m bench [--only NAME ...] [--scale X] [--json out.json]``

Starts an embedded PostgreSQL (fsync off) and NATS from the pip wheels — or uses
``STEWARD_DATABASE_URL`` / ``STEWARD_NATS_URL`` — discovers ``bench/*_bench.py``, runs each
module's ``run(ctx)`` in one event loop, prints one table plus the machine it ran on, and exits
non-zero when a module failed (the others still run).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib
import json
import logging
import math
import os
import platform
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from rich.console import Console
from rich.table import Table

from bench.common import BenchContext, Row, peak_rss_mib

BENCH_DIR = Path(__file__).resolve().parent
RunFn = Callable[[BenchContext], Awaitable[list[Row]]]


def discover() -> list[str]:
    """Module names (``registry`` for ``bench/registry_bench.py``), sorted."""
    return sorted(p.stem.removesuffix("_bench") for p in BENCH_DIR.glob("*_bench.py"))


def load(name: str) -> RunFn:
    module = importlib.import_module(f"bench.{name}_bench")
    run = getattr(module, "run", None)
    if run is None or not callable(run):
        raise TypeError(f"bench/{name}_bench.py has no run(ctx) function")
    return cast(RunFn, run)


@dataclass
class Outcome:
    rows: list[tuple[str, Row]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _check_rows(name: str, rows: Any) -> list[Row]:
    if not isinstance(rows, list) or not all(isinstance(r, Row) for r in rows):
        raise TypeError(f"{name}: run() must return list[Row], got {type(rows).__name__}")
    for r in rows:
        if not isinstance(r.value, int | float) or not math.isfinite(r.value):
            raise ValueError(f"{name}: row {r.name!r} has a non-finite value {r.value!r}")
    return rows


async def run_modules(
    ctx: BenchContext,
    modules: dict[str, Callable[[], RunFn]],
    *,
    module_timeout: float | None = None,
    console: Console | None = None,
) -> Outcome:
    """Run each module in turn; a failure (import, exception, timeout, bad rows) is recorded and
    printed, and the next module still runs."""
    out = Outcome()
    err = console or Console(stderr=True)
    for name, loader in modules.items():
        err.print(f"[bold]bench[/bold] {name} …")
        t0 = time.perf_counter()
        try:
            run = loader()
            rows = _check_rows(name, await asyncio.wait_for(run(ctx), module_timeout))
        except Exception as exc:
            detail = "".join(traceback.format_exception(exc))
            if isinstance(exc, TimeoutError):
                detail = f"timed out after {module_timeout} s\n{detail}"
            out.errors[name] = f"{type(exc).__name__}: {exc}".strip()
            err.print(f"[red]bench {name} FAILED[/red]\n{detail}", markup=False, highlight=False)
        else:
            out.rows.extend((name, r) for r in rows)
        finally:
            out.seconds[name] = time.perf_counter() - t0
            err.print(f"[bold]bench[/bold] {name} done in {out.seconds[name]:.1f} s")
    return out


# --------------------------------------------------------------------------- machine info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    import psutil

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "cpu": _cpu_model(),
        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "load_before": _load(),
    }


def _load() -> float:
    """1-minute load average: other work on the machine makes every number here worse."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else 0.0


async def server_versions(ctx: BenchContext) -> dict[str, str]:
    import asyncpg
    import nats

    out: dict[str, str] = {}
    conn = await asyncpg.connect(ctx.server.url("postgres").replace("postgresql+asyncpg://", "postgresql://"))
    try:
        out["postgresql"] = str(await conn.fetchval("SHOW server_version"))
        fsync = await conn.fetchval("SHOW fsync")
        sync_commit = await conn.fetchval("SHOW synchronous_commit")
        out["postgresql_settings"] = f"fsync={fsync}, synchronous_commit={sync_commit}"
    finally:
        await conn.close()
    nc = await nats.connect(ctx.nats_url)
    try:
        out["nats"] = str(nc._server_info.get("version", "?"))
    finally:
        await nc.close()
    return out


# --------------------------------------------------------------------------- output


def fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def render(outcome: Outcome, info: dict[str, Any], console: Console) -> None:
    caption = (
        f"{info['cores']} cores ({info['usable_cores']} usable) · {info['cpu']} · {info['memory_gib']} GiB · "
        f"Python {info['python']} · {info['platform']}\n"
        f"PostgreSQL {info.get('postgresql', '?')} ({info.get('database', '')}; "
        f"{info.get('postgresql_settings', '')}) · NATS {info.get('nats', '?')} ({info.get('nats_server', '')})"
        f" · scale {info['scale']} · load avg (1 min) {info['load_before']} before, {info.get('load_after', '?')} after"
    )
    table = Table(title="Steward benchmarks", caption=caption, caption_justify="left")
    table.add_column("module")
    table.add_column("name")
    table.add_column("value", justify="right")
    table.add_column("unit")
    table.add_column("note", overflow="fold")
    for module, row in outcome.rows:
        table.add_row(module, row.name, fmt(row.value), row.unit, row.note)
    for module, error in outcome.errors.items():
        table.add_row(module, "[red]FAILED[/red]", "", "", error[:200])
    console.print(table)
    times = ", ".join(f"{m} {s:.1f} s" for m, s in outcome.seconds.items())
    console.print(f"module wall times: {times}")


def write_json(path: Path, outcome: Outcome, info: dict[str, Any]) -> None:
    doc = {
        "machine": info,
        "rows": [{"module": m, **asdict(r)} for m, r in outcome.rows],
        "errors": outcome.errors,
        "seconds": outcome.seconds,
    }
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--only", nargs="+", action="extend", metavar="NAME", help="modules to run (e.g. registry)"
    )
    p.add_argument("--scale", type=float, default=1.0, help="multiply every benchmark's sizes (default 1.0)")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the results as JSON")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per module (default 900)")
    p.add_argument("--list", action="store_true", help="list the modules and exit")
    args = p.parse_args(argv)
    if not args.scale > 0:
        p.error("--scale must be > 0")
    return args


def select(only: list[str] | None) -> tuple[list[str], list[str]]:
    """(modules to run, unknown names asked for)."""
    found = discover()
    if not only:
        return found, []
    wanted = [n.removesuffix("_bench").removesuffix(".py") for n in only]
    return [n for n in found if n in wanted], [n for n in wanted if n not in found]


async def _main(ctx: BenchContext, names: list[str], module_timeout: float) -> tuple[Outcome, dict[str, str]]:
    versions = await server_versions(ctx)
    outcome = await run_modules(
        ctx, {n: functools.partial(load, n) for n in names}, module_timeout=module_timeout
    )
    return outcome, versions


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console() if sys.stdout.isatty() else Console(width=160)
    names, unknown = select(args.only)
    if args.list:
        console.print("\n".join(discover()))
        return 0
    if unknown:
        console.print(
            f"[red]unknown benchmark module(s): {', '.join(unknown)}[/red]; known: {', '.join(discover())}"
        )
        return 2
    if not names:
        console.print("[red]no benchmark modules found in bench/[/red]")
        return 2

    from steward.devtools.infra import ExternalNats, ExternalPostgres, database_server, nats_server
    from steward.kit.telemetry import setup_logging

    # In-process services log through structlog; their INFO lines (a consumer's per-batch lines among
    # them) would drown the table (and cost time in the loops being measured).
    setup_logging(service="bench", level="WARNING", json_logs=False)
    logging.disable(logging.INFO)

    info = machine_info() | {"scale": args.scale}
    pg = database_server(fast_unsafe=True)
    try:
        nats_srv = nats_server()
        try:
            info["database"] = (
                "external STEWARD_DATABASE_URL" if isinstance(pg, ExternalPostgres) else "embedded, fsync off"
            )
            info["nats_server"] = (
                "external STEWARD_NATS_URL" if isinstance(nats_srv, ExternalNats) else "embedded"
            )
            ctx = BenchContext(
                nats_url=nats_srv.url,
                server=pg,
                scale=args.scale,
                server_note=info["database"],
                nats_pid=getattr(getattr(nats_srv, "proc", None), "pid", None),
            )
            try:
                outcome, versions = asyncio.run(_main(ctx, names, args.timeout))
            finally:
                ctx.drop_databases()
            info |= versions
            info["peak_rss_mib"] = round(peak_rss_mib(), 1)
            info["load_after"] = _load()
        finally:
            nats_srv.stop()
    finally:
        pg.stop()

    render(outcome, info, console)
    if args.json:
        write_json(args.json, outcome, info)
        console.print(f"results written to {args.json}")
    if outcome.errors:
        console.print(f"[red]{len(outcome.errors)} module(s) failed: {', '.join(outcome.errors)}[/red]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
