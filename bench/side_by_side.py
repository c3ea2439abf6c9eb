"""Overload, side by side: two registry+issues platforms at once, one whose issues process runs
other code (a directory put first on its ``PYTHONPATH``, e.g. a ``git archive`` of an earlier
``libs/kit``), loaded in alternating windows so that a machine whose speed drifts (busy neighbours)
moves both alike.

``python -m bench.side_by_side --before DIR [--pairs 4] [--seconds 8] [--factor 4]``

Each window: ``wrk -c8`` for ``--seconds`` (the peak), then ``--factor`` times that rate offered by
``wrk -c256`` (paced as the ``processes`` module paces it) with the open-loop probe beside it. Prints
each window (peak, issues' CPU per filing, offered, served, served / peak, how busy issues was, the
probe's served p99) and the medians of each side. Not a ``*_bench.py`` module: ``python -m bench``
does not run it. Needs ``wrk`` (``make wrk``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import BenchContext
from bench.loadgen import Meter, wrk, wrk_binary
from bench.processes_bench import overload
from bench.procs import SECRET, Platform, setup_tenants
from steward.kit.auth import mint_dev_token

CLIENTS = 8


async def _platform(ctx: BenchContext, workdir: Path, pythonpath: str | None) -> tuple[Platform, Any]:
    platform = Platform(ctx, workdir)
    names = ["registry", "issues"]
    platform.specs = {k: v for k, v in platform.specs.items() if k in names}
    if pythonpath:
        platform.envs["issues"]["PYTHONPATH"] = pythonpath
    await platform.migrate(names)
    await platform.start(names)
    district, project = await setup_tenants(platform)
    issues = platform.running["issues"]
    body = {
        "kind": "obstacle",
        "project_id": project,
        "title": "并排",
        "category": "utilities",
        "tier": "unit",
    }
    token = mint_dev_token(secret=SECRET, subject="bench", tenant=district, roles=["specialist"])
    return platform, (f"{issues.url}/v1/matters", body, token, issues.proc.pid)


async def _window(target: Any, seconds: float, factor: float, workdir: Path) -> dict[str, float]:
    url, body, token, pid = target
    meter = Meter({"issues": (pid, False)})
    meter.start()
    peak = await wrk(url, body, token, seconds, workdir, connections=CLIENTS)
    peak_cpu = meter.stop()["issues"] * 1000 / max(peak.requests, 1)
    meter = Meter({"issues": (pid, False)})
    meter.start()
    started = time.perf_counter()
    rows = {
        r.name: r.value
        for r in await overload(
            url, body, token, peak=peak.rate, seconds=seconds, workdir=workdir, factor=factor
        )
    }
    busy = meter.stop()["issues"] / (time.perf_counter() - started)
    return {
        "peak": peak.rate,
        "peak_cpu_ms": peak_cpu,
        "offered": rows["overload: served"] + rows["overload: refused"],
        "served": rows["overload: served"],
        "ratio": rows["overload: served / peak"],
        "busy": busy,
        "p99_ms": rows["overload: served p99 (probe)"],
    }


async def run(before: str, pairs: int, seconds: float, factor: float) -> dict[str, list[dict[str, float]]]:
    from steward.devtools.infra import database_server
    from steward.devtools.natsinfra import LocalNats

    results: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    server = database_server(fast_unsafe=True)
    try:
        with (
            LocalNats() as nats,
            tempfile.TemporaryDirectory() as a,
            tempfile.TemporaryDirectory() as b,
        ):
            ctx = BenchContext(nats_url=nats.url, server=server)
            sides: dict[str, tuple[Platform, Any]] = {}
            try:
                sides["before"] = await _platform(ctx, Path(a), before)
                sides["after"] = await _platform(ctx, Path(b), None)
                for _, (url, body, token, _pid) in sides.values():  # warm-up
                    await wrk(url, body, token, 2, Path(a), connections=CLIENTS)
                for i in range(pairs):
                    for name in ("before", "after") if i % 2 == 0 else ("after", "before"):
                        r = await _window(sides[name][1], seconds, factor, Path(a))
                        results[name].append(r)
                        print(
                            f"{name:6} peak {r['peak']:.0f}/s ({r['peak_cpu_ms']:.2f} ms of issues CPU each) | "
                            f"offered {r['offered']:.0f}/s, served {r['served']:.0f}/s = {r['ratio']:.3f} of the peak, "
                            f"issues busy {r['busy']:.2f}, probe p99 {r['p99_ms']:.0f} ms",
                            flush=True,
                        )
            finally:
                for platform, _ in sides.values():
                    platform.stop()
                ctx.drop_databases()
    finally:
        getattr(server, "stop", lambda: None)()
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.side_by_side", description=__doc__.split("\n\n")[0])
    p.add_argument("--before", required=True, help="a directory put first on the before side's PYTHONPATH")
    p.add_argument("--pairs", type=int, default=4, help="windows per side, in alternating order (default 4)")
    p.add_argument("--seconds", type=float, default=8.0, help="each load's duration (default 8)")
    p.add_argument("--factor", type=float, default=4.0, help="overload offered, times the peak (default 4)")
    args = p.parse_args(argv)
    if args.pairs < 1 or args.seconds < 2 or args.factor <= 0:
        p.error("--pairs ≥ 1, --seconds ≥ 2 and --factor > 0")
    if not Path(args.before).is_dir():
        p.error(f"--before: not a directory: {args.before}")
    wrk_binary()
    from steward.kit.telemetry import setup_logging

    setup_logging(service="bench", level="WARNING", json_logs=False)
    logging.disable(logging.INFO)
    results = asyncio.run(run(args.before, args.pairs, args.seconds, args.factor))
    for name, rows in results.items():
        print(
            f"{name}: median served / peak {statistics.median(r['ratio'] for r in rows):.3f}, "
            f"issues busy {statistics.median(r['busy'] for r in rows):.2f}, "
            f"probe p99 {statistics.median(r['p99_ms'] for r in rows):.0f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
