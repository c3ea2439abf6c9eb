"""Chart lifecycle (docs/deploy.md §11): `helm test`, the gRPC-native startup probe, Chart.lock
and the CHANGELOG. The test Pod's script runs against a local HTTP server, the probe's question
against the kit's gRPC server, and Helm's own dependency check against the lock."""

from __future__ import annotations

import http.server
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import helm_python as helm
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from steward.devtools.chart import (
    CHART,
    CHART_SERVICES,
    RELEASE,
    SERVICES,
    by_name,
    of_kind,
    one,
    pod_labels,
    render,
    selects,
)
from steward.kit.grpc import GrpcServer

# --- 6. helm test ---------------------------------------------------------------------------------


def test_helm_test_pod_asks_every_service_through_its_service(chart: helm.Chart) -> None:
    docs = render(chart)
    pod = one(docs, "Pod", f"{RELEASE}-test-readyz")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["restartPolicy"] == "Never"
    (container,) = pod["spec"]["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    urls = container["command"][3:]
    services = by_name(docs, "Service")
    expected = {f"http://{RELEASE}-{s}:8080/readyz" for s in SERVICES} | {f"http://{RELEASE}-console:8080/"}
    assert set(urls) == expected
    for url in urls:  # each URL names a rendered Service and its http port
        host, port = url.split("/")[2].split(":")
        assert {"name": "http", "port": int(port)}.items() <= next(
            p for p in services[host]["spec"]["ports"] if p["name"] == "http"
        ).items()

    # the services' policies admit the test Pod on the http port
    policy = one(docs, "NetworkPolicy", f"{RELEASE}-test-readyz")
    assert policy["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert selects(policy["spec"]["ingress"][0]["from"][0]["podSelector"], pod["metadata"]["labels"])
    for deployment in of_kind(docs, "Deployment"):
        assert selects(policy["spec"]["podSelector"], pod_labels(deployment))

    only_issues = render(chart, {"services": {s: {"enabled": s == "issues"} for s in CHART_SERVICES}})
    container = one(only_issues, "Pod", f"{RELEASE}-test-readyz")["spec"]["containers"][0]
    assert container["command"][3:] == [
        f"http://{RELEASE}-issues:8080/readyz",
        f"http://{RELEASE}-console:8080/",
    ]
    assert of_kind(render(chart, {"helmTest": {"enabled": False}}), "Pod") == []
    custom = render(chart, {"helmTest": {"image": {"repository": "tools/python", "tag": "3.13"}}})
    assert one(custom, "Pod", f"{RELEASE}-test-readyz")["spec"]["containers"][0]["image"] == (
        "localhost/tools/python:3.13"
    )


ANSWERS = {"/readyz": 200, "/": 302, "/down/readyz": 503}


class _Answers(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(ANSWERS.get(self.path, 404))
        if self.path == "/":
            self.send_header("Location", "http://sign-in.invalid/")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def answering() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_helm_test_script_passes_ready_services_and_fails_otherwise(
    chart: helm.Chart, answering: str
) -> None:
    """The Pod's script, run as the Pod runs it: 2xx and the console's redirect to sign-in pass
    (the redirect is not followed), a 503 or an unreachable service fails the test."""
    command = one(render(chart), "Pod", f"{RELEASE}-test-readyz")["spec"]["containers"][0]["command"]
    script = command[:3]
    assert script[:2] == ["python", "-c"]

    def run(*urls: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", script[2], *urls], capture_output=True, text=True, timeout=60
        )

    ok = run(f"{answering}/readyz", f"{answering}/")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count(" ok") == 2
    down = run(f"{answering}/readyz", f"{answering}/down/readyz")
    assert down.returncode == 1 and "/down/readyz 503 FAILED" in down.stdout
    unreachable = run("http://127.0.0.1:9/readyz")
    assert unreachable.returncode == 1 and "unreachable" in unreachable.stdout


# --- 7. gRPC-native probes ------------------------------------------------------------------------


def test_startup_probe_uses_the_grpc_health_service(chart: helm.Chart) -> None:
    for deployment in of_kind(render(chart), "Deployment"):
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        if deployment["metadata"]["labels"]["app.kubernetes.io/component"] == "console":
            assert "grpc" not in container["startupProbe"]  # no gRPC server
            continue
        grpc_port = next(p["containerPort"] for p in container["ports"] if p["name"] == "grpc")
        assert container["startupProbe"]["grpc"] == {"port": grpc_port}
        assert "httpGet" not in container["startupProbe"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"  # checks database and NATS
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"

    http_only = render(chart, {"pod": {"probes": {"startup": {"grpc": False}}}})
    for deployment in of_kind(http_only, "Deployment"):
        probe = deployment["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
        assert probe["httpGet"]["path"] == "/healthz" and "grpc" not in probe


async def test_the_grpc_probe_is_answered_by_a_started_service() -> None:
    """What the kubelet asks (grpc.health.v1.Health/Check with no service name) is SERVING once
    the kit's gRPC server has started, and NOT_SERVING while it shuts down."""
    server = GrpcServer(service="probe-test", host="127.0.0.1", port=0)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            answer = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
            await server.health.enter_graceful_shutdown()
            answer = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        await server.stop(0)


# --- 8. Chart.lock and the CHANGELOG --------------------------------------------------------------


def satisfies(version: str, constraint: str) -> bool:
    """Helm's x-range constraints as Chart.yaml uses them ("1.x.x", "0.x.x", exact versions)."""
    return all(c in ("x", "*", v) for c, v in zip(constraint.split("."), version.split("."), strict=True))


def test_chart_lock_matches_the_declared_dependencies() -> None:
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    lock = yaml.safe_load((CHART / "Chart.lock").read_text())
    assert [(d["name"], d["repository"]) for d in lock["dependencies"]] == [
        (d["name"], d["repository"]) for d in meta["dependencies"]
    ]
    for pinned, declared in zip(lock["dependencies"], meta["dependencies"], strict=True):
        assert re.fullmatch(r"\d+\.\d+\.\d+", pinned["version"]), pinned
        assert satisfies(pinned["version"], declared["version"]), (pinned, declared)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", lock["digest"])


def _build_error(chart_dir: Path) -> str:
    """Helm's `dependency build` (offline: no repository refresh); it checks Chart.lock's digest
    against Chart.yaml before it fetches anything."""
    try:
        helm.dependency_build(chart_dir, skip_refresh=True)
    except helm.HelmError as exc:
        return str(exc)
    return ""


def test_helm_accepts_the_lock_and_refuses_a_stale_one(tmp_path: Path) -> None:
    copy = tmp_path / "steward"
    shutil.copytree(CHART, copy)
    assert "out of sync" not in _build_error(copy)  # it gets as far as fetching the pinned charts

    meta = yaml.safe_load((copy / "Chart.yaml").read_text())
    meta["dependencies"][0]["version"] = "2.x.x"
    (copy / "Chart.yaml").write_text(yaml.safe_dump(meta, allow_unicode=True))
    assert "out of sync" in _build_error(copy)


def test_changelog_describes_this_chart_version() -> None:
    version = yaml.safe_load((CHART / "Chart.yaml").read_text())["version"]
    changelog = (CHART / "CHANGELOG.md").read_text(encoding="utf-8")

    def section(v: str) -> str:
        return changelog.split(f"## {v}\n", 1)[1].split("\n## ", 1)[0]

    assert "### Upgrade" in section(version)  # every version says what to do when upgrading to it
    first = section("0.2.0")  # everything since the first chart
    for topic in ("console", "image", "monitoring", "service", "synchronous", "NetworkPolicy", "Chart.lock"):
        assert topic.lower() in first.lower(), topic
    assert "proxy-body-size" in section("0.3.0")
