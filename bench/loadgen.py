"""Load from another process and what it cost: ``wrk`` (Debian's package) with a JSON body, paced
when a rate is given, an open-loop probe for the served requests' latency beside it, and CPU seconds of
named processes from ``/proc`` (psutil) before and after."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

CONNECTIONS = 8

WRK_SCRIPT = """
{request}
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
    body: dict[str, Any] | None,
    token: str | None,
    seconds: float,
    workdir: Path,
    *,
    connections: int = CONNECTIONS,
    refusals: bool = False,
    rate: float | None = None,
) -> Load:
    """``wrk`` with the JSON ``body`` POSTed (``None``: a GET of ``url``); every answer must be 2xx unless ``refusals`` (then the
    non-2xx count is returned in ``Load.refused``; socket errors still fail)."""
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"' if token else ""
    script = workdir / f"load-{secrets.token_hex(4)}.lua"
    # paced: before each request a connection waits a random time, exponentially distributed with
    # mean connections/rate seconds, so the offered rate is ``rate`` whatever the answers (as long as
    # they come faster than that), not "as fast as served", and the arrivals are those of many
    # independent clients (near Poisson). A fixed wait kept the connections in step: every refusal
    # came back at the same moment as the others, so the server saw bursts of all of them and then
    # nothing (at 0.8x the peak offered, 57 of 224 filings/s served, the rest refused in the bursts).
    # A wait is cut at 4 s: uvicorn closes a connection idle for 5 s, and wrk counts a request sent
    # on a closed connection as an error.
    mean_ms = connections * 1000.0 / rate if rate else 0.0
    pace = (
        f"math.randomseed({secrets.randbits(31)})\n"
        f"function delay() return math.min(4000, -{mean_ms:.3f} * math.log(1 - math.random())) end"
        if rate
        else ""
    )
    request = (
        'wrk.method = "GET"'
        if body is None
        else 'wrk.method = "POST"\nwrk.body = [==[' + json.dumps(body, ensure_ascii=False) + "]==]\n"
        'wrk.headers["Content-Type"] = "application/json"'
    )
    script.write_text(WRK_SCRIPT.format(request=request, auth=auth, pace=pace))
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
