"""The console's response times as users get them: against a running platform whose services are
separate processes (``make run``), not the single-process harness of ``console_bench``.

    make run                                   # in one terminal
    uv run --frozen python -m bench.console_processes [--url http://127.0.0.1:8100] [-n 60]

Signs in as a district dispatcher (浑南区, the demo's ``demo-210112-staff0``), warms each page, then
requests it ``n`` times one after another and prints p50 / p95 / max per page with the target of
150 ms. It measures request to last byte from another process over loopback, the console's calls to
the services included; nothing else should load the machine meanwhile. Exit status 1 when a page's
p95 is over the target.
"""

from __future__ import annotations

import argparse
import re
import sys
import time

import httpx

PAGES = ("/", "/projects", "/matters", "/inbox", "/reports")
TARGET_MS = 150.0


def _percentile(sorted_ms: list[float], pct: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, round(pct / 100 * (len(sorted_ms) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url", default="http://127.0.0.1:8100", help="the console's URL (make run prints it)"
    )
    parser.add_argument("-n", type=int, default=60, help="requests per page")
    parser.add_argument("--person", default="demo-210112-staff0")
    parser.add_argument("--role", default="dispatcher")
    args = parser.parse_args(argv)
    over = 0
    with httpx.Client(base_url=args.url, timeout=30, trust_env=False) as client:
        page = client.get("/signin")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        if csrf is None:
            print(f"no dev sign-in at {args.url}/signin (is `make run` running?)", file=sys.stderr)
            return 2
        signed = client.post(
            "/signin/dev", data={"csrf": csrf.group(1), "person": args.person, "role": args.role}
        )
        if signed.status_code != 303:
            print(f"sign-in refused: {signed.status_code}", file=sys.stderr)
            return 2
        print(
            f"{'page':10s} {'p50':>8s} {'p95':>8s} {'max':>8s}  target p95 < {TARGET_MS:.0f} ms, n={args.n}"
        )
        for path in PAGES:
            for _ in range(2):
                client.get(path)
            times: list[float] = []
            for _ in range(args.n):
                start = time.perf_counter()
                resp = client.get(path)
                times.append((time.perf_counter() - start) * 1000)
                if resp.status_code != 200:
                    print(f"{path}: {resp.status_code}", file=sys.stderr)
                    return 2
            times.sort()
            p95 = _percentile(times, 95)
            over += p95 > TARGET_MS
            print(
                f"{path:10s} {_percentile(times, 50):6.1f}ms {p95:6.1f}ms {times[-1]:6.1f}ms"
                f"  {'over' if p95 > TARGET_MS else 'ok'}"
            )
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
