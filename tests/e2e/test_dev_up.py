"""`steward dev up` end to end: embedded PostgreSQL + NATS, every service, demo data, clean stop."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path

import httpx
import pytest

from steward.kit.auth import mint_dev_token


@pytest.mark.timeout(560)
def test_dev_up_runs_the_platform_with_demo_data(tmp_path: Path) -> None:
    out = tmp_path / "dev-up.log"
    proc = _up(tmp_path, out)
    try:
        text = _banner(proc, out)
        assert "every database at head" not in text and "seeded before" not in text, text[-4000:]
        services = dict(re.findall(r"│ (\w+)\s+│ (http://127\.0\.0\.1:\d+)", text))
        assert "registry" in services, text[-4000:]
        base = services["registry"]
        secret = (tmp_path / "data" / "dev-secret").read_text().strip()
        token = mint_dev_token(secret=secret, subject="e2e", tenant="210100", roles=["dispatcher"])
        for name, url in services.items():
            ready = httpx.get(f"{url}/readyz", timeout=10)
            assert ready.status_code == 200 and ready.json()["ready"] is True, (name, ready.text)
        if "issues" in services:
            matters = httpx.get(
                f"{services['issues']}/v1/matters", headers={"Authorization": f"Bearer {token}"}, timeout=10
            )
            assert matters.status_code == 200 and matters.json()["items"], matters.text
        if "notify" in services:
            inbox = httpx.get(
                f"{services['notify']}/v1/inbox", headers={"Authorization": f"Bearer {token}"}, timeout=10
            )
            assert inbox.status_code == 200, inbox.text
        if "notify" in services:
            _assert_demo_mail_arrives(tmp_path / "data", text)
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
            assert client.get("/readyz").json()["ready"] is True
            projects = client.get("/v1/projects", params={"limit": 200}).json()["items"]
            assert len(projects) == 30
            assert {p["stage"] for p in projects} >= {
                "negotiating",
                "signed",
                "preparing",
                "new_start",
                "continuing",
                "completed",
                "operating",
                "suspended",
                "terminated",
            }
            assert {p["dispatch"]["tier"] for p in projects} >= {"none", "zone", "district", "city"}
            incomplete = client.get("/v1/rosters/completeness").json()
            assert incomplete["incomplete"] > 0
            tenants = [t["code"] for t in client.get("/v1/tenants").json()["items"]]
            assert len([t for t in tenants if len(t) == 6 and t != "210100"]) >= 4

        # the runner supervises: a service killed with -9 comes back (a new instance) by itself,
        # and the rest of the platform keeps serving meanwhile
        victim = "notify" if "notify" in services else "registry"
        before = httpx.get(f"{services[victim]}/readyz", timeout=10).json()["instance"]
        pid = _pid_on_port(int(services[victim].rsplit(":", 1)[1]))
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 90
        after = before
        while time.monotonic() < deadline and after == before:
            time.sleep(0.5)
            try:
                after = httpx.get(f"{services[victim]}/readyz", timeout=5).json().get("instance")
            except (httpx.HTTPError, ValueError):
                continue
        assert after not in (before, None), out.read_text(errors="replace")[-4000:]
        deadline = time.monotonic() + 15  # the runner prints it once the new process is ready
        while f"{victim} restarted (restart #1)" not in out.read_text(errors="replace"):
            assert time.monotonic() < deadline, out.read_text(errors="replace")[-2000:]
            time.sleep(0.2)
        assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
    finally:
        _stop(proc)
    assert proc.returncode == 0, out.read_text(errors="replace")[-4000:]
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout.split()
    assert leftovers == [], f"processes left behind: {leftovers}"
    # A clean start, seed and stop log no error (e.g. no "Task-NN raised an exception").
    errors = [
        f"{log.name}: {line.strip()[:300]}"
        for log in sorted((tmp_path / "data" / "logs").glob("*.log"))
        if log.name not in ("postgres.log", "nats.log")
        for line in log.read_text(errors="replace").splitlines()
        if re.search(r"\bERROR\b|Traceback|\"level\": \"(error|critical)\"", line)
    ]
    assert errors == [], "\n".join(errors[:20])
    # every line a service writes is one JSON object (uvicorn, nats, grpc and warnings too),
    # and requests leave an access line with their request id
    not_json, access = [], 0
    for log in sorted((tmp_path / "data" / "logs").glob("*.log")):
        if log.stem not in ("registry", "issues", "meetings", "scoring", "notify", "console"):
            continue
        section = ""
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("=== python -m "):  # the runner's header before migrate, serve, seed
                section = line.split()[-2]
                continue
            if not line.strip():
                continue
            # migrate and seed print plain text into the same file (the service keeps logging there
            # after the seed header): outside the serve section only JSON-looking lines are checked
            if section != "serve" and not line.startswith('{"'):
                continue
            try:
                record = json.loads(line)
            except ValueError:
                not_json.append(f"{log.name}: {line[:200]}")
                continue
            if record.get("event") == "http.access":
                access += 1
                assert record.get("request_id") and record.get("status"), record
    assert not_json == [], "\n".join(not_json[:20])
    assert access > 0

    # a warm start on the same data: no migration and no seed has anything to do, none runs, and
    # the demo data is there
    again = tmp_path / "dev-up-warm.log"
    proc = _up(tmp_path, again)
    try:
        text = _banner(proc, again)
        assert "(every database at head)" in text, text[-4000:]
        assert "seeded before on these databases" in text, text[-4000:]
        base = dict(re.findall(r"│ (\w+)\s+│ (http://127\.0\.0\.1:\d+)", text))["registry"]
        projects = httpx.get(
            f"{base}/v1/projects", params={"limit": 200}, headers={"Authorization": f"Bearer {token}"}
        )
        assert projects.status_code == 200 and len(projects.json()["items"]) == 30, projects.text
        logs = (tmp_path / "data" / "logs").glob("*.log")
        headers = [line for log in logs for line in log.read_text(errors="replace").splitlines()]
        assert sum("=== python -m steward.registry migrate ===" in h for h in headers) == 1
        assert sum("=== python -m steward.registry seed ===" in h for h in headers) == 1
    finally:
        _stop(proc)
    assert proc.returncode == 0, again.read_text(errors="replace")[-4000:]


def _up(tmp_path: Path, out: Path) -> subprocess.Popen[bytes]:
    """``steward dev up`` on ``tmp_path/data``, its output into ``out``."""
    env = {k: v for k, v in os.environ.items() if k not in ("STEWARD_DATABASE_URL", "STEWARD_NATS_URL")}
    env["PYTHONUNBUFFERED"] = "1"
    steward = Path(sys.executable).with_name("steward")
    with out.open("wb") as sink:
        return subprocess.Popen(
            [str(steward), "dev", "up", "--data-dir", str(tmp_path / "data")],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl-C, as a user stops it; killed (and the test failed) if it does not end within 60 s."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise


def _banner(proc: subprocess.Popen[bytes], out: Path) -> str:
    """The runner's output once it prints its URLs (it failed if it exited first)."""
    deadline = time.monotonic() + 360  # a busy 2-core machine: 8 processes migrate, start and seed
    text = ""
    while time.monotonic() < deadline:
        text = out.read_text(errors="replace")
        if "Press Ctrl-C" in text or proc.poll() is not None:
            break
        time.sleep(0.5)
    assert "Press Ctrl-C" in text, text[-4000:]
    return text


def _assert_demo_mail_arrives(data: Path, banner: str) -> None:
    """The runner's own mail server takes notify's e-mails (the demo's rosters have addresses):
    each one lands in <data>/mail as a whole .eml file, and no delivery fails for want of a server."""
    assert f"e-mail:     {data / 'mail'}" in banner, banner[-2000:]
    deadline = time.monotonic() + 90
    while not list((data / "mail").glob("*.eml")):
        assert time.monotonic() < deadline, (data / "logs" / "notify.log").read_text(errors="replace")[-3000:]
        time.sleep(0.5)
    first = sorted((data / "mail").glob("*.eml"))[0]
    mail = message_from_bytes(first.read_bytes(), policy=email_policy.default)
    assert mail["To"] and mail["Subject"] and mail["Message-ID"], first.read_text(errors="replace")[:2000]
    assert "@steward.notify>" in mail["Message-ID"]
    refused = [
        line[:300]
        for line in (data / "logs" / "notify.log").read_text(errors="replace").splitlines()
        if "delivery_failed" in line and "smtp" in line
    ]
    assert refused == [], "\n".join(refused[:5])


def _pid_on_port(port: int) -> int:
    import psutil

    for conn in psutil.net_connections(kind="tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
            return int(conn.pid)
    raise AssertionError(f"nothing listens on {port}")
