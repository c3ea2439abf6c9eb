"""Smoke test of the benchmarks, so they cannot rot: every ``bench/*_bench.py`` module runs at a
tiny scale against the session's PostgreSQL and NATS and returns well-formed rows; the runner
keeps going past a failing module and reports it; ``python -m bench`` works end to end.

No number is asserted: speed is what ``make bench`` reports, never a test verdict.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # ``bench`` is a top-level package of the repository, not installed
    sys.path.insert(0, str(ROOT))

from bench.__main__ import discover, load, run_modules  # noqa: E402
from bench.common import BenchContext, Row, measure, percentile, setup_get  # noqa: E402

SMOKE_SCALE = 0.01
CLI_MODULE = "kit"  # runs through ``python -m bench`` below, so it is not run a second time in-process


@pytest.fixture
def ctx(pg_server: Any, nats_url: str) -> BenchContext:
    return BenchContext(nats_url=nats_url, server=pg_server, scale=SMOKE_SCALE)


def test_the_suite_discovers_the_modules() -> None:
    names = discover()
    assert {"registry", "kit"} <= set(names)
    assert names == sorted(names)


def check_rows(module: str, rows: list[Row]) -> None:
    assert isinstance(rows, list) and rows, f"{module} returned no rows"
    for row in rows:
        assert isinstance(row, Row), row
        assert row.name and row.unit, row
        assert isinstance(row.value, int | float) and math.isfinite(row.value) and row.value >= 0, row
    names = [r.name for r in rows]
    assert len(names) == len(set(names)), f"{module}: duplicate row names {names}"


@pytest.mark.parametrize("name", [n for n in discover() if n != CLI_MODULE])
async def test_module_runs_at_tiny_scale(name: str, ctx: BenchContext) -> None:
    check_rows(name, await load(name)(ctx))


def test_percentile_and_bounded_measure() -> None:
    samples = [float(i) for i in range(1, 101)]
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 95) == 95.0
    assert percentile([3.0], 95) == 3.0
    assert percentile([], 50) == 0.0


async def test_measure_runs_exactly_count_calls() -> None:
    seen: list[int] = []

    async def op(i: int) -> None:
        seen.append(i)

    timing = await measure(op, count=37, concurrency=8)
    assert sorted(seen) == list(range(37))
    assert timing.count == 37 and timing.wall > 0


async def test_a_setup_read_is_tried_again_after_a_503_with_retry_after_only() -> None:
    import httpx

    answers = [(503, {"Retry-After": "0"}), (503, {"Retry-After": "0"}), (200, {})]
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        status, headers = answers[min(len(calls), len(answers)) - 1]
        return httpx.Response(status, headers=headers)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://t") as http:
        assert (await setup_get(http, "/x")).status_code == 200
        assert len(calls) == 3
        answers[:] = [(503, {})]  # no Retry-After: not a refusal to retry, returned as it is
        assert (await setup_get(http, "/x")).status_code == 503
        assert len(calls) == 4
        answers[:] = [(503, {"Retry-After": "0"})]  # refused every time: the last answer, after 4
        assert (await setup_get(http, "/x")).status_code == 503
        assert len(calls) == 8


async def test_runner_reports_a_failing_module_and_runs_the_others(ctx: BenchContext) -> None:
    async def good(_: BenchContext) -> list[Row]:
        return [Row("ok", 1.0, "x")]

    async def broken(_: BenchContext) -> list[Row]:
        raise RuntimeError("boom")

    async def wrong(_: BenchContext) -> Any:
        return [{"name": "not a row"}]

    def unloadable() -> Any:
        raise ImportError("no such module")

    out = io.StringIO()
    outcome = await run_modules(
        ctx,
        {"broken": lambda: broken, "wrong": lambda: wrong, "missing": unloadable, "good": lambda: good},
        console=Console(file=out, width=200),
    )
    assert [(m, r.name) for m, r in outcome.rows] == [("good", "ok")]
    assert set(outcome.errors) == {"broken", "wrong", "missing"}
    assert "boom" in outcome.errors["broken"]
    assert "RuntimeError: boom" in out.getvalue()  # the traceback is printed
    assert set(outcome.seconds) == {"broken", "wrong", "missing", "good"}


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_runs_a_module_and_writes_json(pg_server: Any, nats_url: str, tmp_path: Path) -> None:
    env = os.environ | {"STEWARD_DATABASE_URL": pg_server.url(), "STEWARD_NATS_URL": nats_url}
    out = tmp_path / "bench.json"
    res = _cli("--only", CLI_MODULE, "--scale", "0.002", "--json", str(out), env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Steward benchmarks" in res.stdout and "PostgreSQL" in res.stdout
    doc = json.loads(out.read_text())
    assert doc["errors"] == {}
    assert {r["module"] for r in doc["rows"]} == {CLI_MODULE}
    check_rows(CLI_MODULE, [Row(**{k: v for k, v in r.items() if k != "module"}) for r in doc["rows"]])
    assert any(r["name"] == "outbox relay drain" for r in doc["rows"])
    assert doc["machine"]["postgresql"] and doc["machine"]["cores"] >= 1
    assert doc["machine"]["database"] == "external STEWARD_DATABASE_URL"

    unknown = _cli("--only", "nosuchthing", env=env)
    assert unknown.returncode == 2
    assert "unknown benchmark module" in unknown.stdout
