"""Build the service images once for this directory (``scripts/build_images.py``, what ``make images``
runs) and run containers from them that are always removed, even when a test fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from steward.devtools.natsinfra import LocalNats

ROOT = Path(__file__).resolve().parents[2]
RUNC = "/usr/sbin/runc"
PODMAN = ["podman", "--runtime", RUNC]


def _tools_missing() -> list[str]:
    missing = [t for t in ("podman", "debootstrap") if shutil.which(t) is None]
    return missing + ([] if Path(RUNC).exists() else ["runc"])


@pytest.fixture(scope="session")
def image_version() -> str:
    """Build every ``steward-<service>:<version>`` image here (hermetic: debootstrap base)."""
    # as root (CI) the build installs them with apt-get; otherwise a clear failure, never a skip
    if _tools_missing() and os.geteuid() != 0:
        pytest.fail(
            f"{', '.join(_tools_missing())} missing: run the tests as root (the build installs them) "
            "or apt-get install podman debootstrap runc",
            pytrace=False,
        )
    build = subprocess.run(
        [sys.executable, "scripts/build_images.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert build.returncode == 0, (build.stdout + build.stderr)[-6000:]
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import build_images
    finally:
        sys.path.pop(0)
    return build_images.chart_version()


class Containers:
    """``podman run`` as the chart runs the services: read-only root, a tmpfs /tmp, the host network."""

    podman = PODMAN

    def __init__(self) -> None:
        self.prefix = f"steward-test-{uuid.uuid4().hex[:8]}"
        self.names: list[str] = []

    def command(self, name: str, image: str, env: dict[str, str], *args: str, detach: bool) -> list[str]:
        envs = [x for key, value in sorted(env.items()) for x in ("--env", f"{key}={value}")]
        return [
            *PODMAN,
            "run",
            "--rm",
            *(["-d"] if detach else []),
            "--name",
            name,
            "--network",
            "host",
            "--read-only",
            # explicit limits below podman's defaults (1048576): sandboxed hosts refuse raising them
            "--ulimit",
            "nofile=16384:16384",
            "--ulimit",
            "nproc=16384:16384",
            "--tmpfs",
            "/tmp",
            *envs,
            image,
            *args,
        ]

    def start(self, service: str, image: str, env: dict[str, str], *args: str) -> str:
        """A detached container (its default command when no args); returns its name."""
        name = f"{self.prefix}-{service}"
        self.names.append(name)
        subprocess.run(self.command(name, image, env, *args, detach=True), check=True, capture_output=True)
        return name

    def popen(self, service: str, image: str, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
        """A container in the foreground (e.g. a migration): wait for it and read its output."""
        name = f"{self.prefix}-{service}-{uuid.uuid4().hex[:4]}"
        self.names.append(name)
        return subprocess.Popen(
            self.command(name, image, env, *args, detach=False),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def logs(self, name: str, lines: int = 60) -> str:
        out = subprocess.run(
            [*PODMAN, "logs", "--tail", str(lines), name], capture_output=True, text=True, timeout=30
        )
        return out.stdout + out.stderr

    def remove_all(self) -> None:
        if self.names:
            subprocess.run(
                [*PODMAN, "rm", "--force", "--ignore", "--time", "5", *self.names],
                capture_output=True,
                timeout=120,
            )


@pytest.fixture
def containers() -> Iterator[Containers]:
    box = Containers()
    try:
        yield box
    finally:
        box.remove_all()


@pytest.fixture
def platform_nats(tmp_path: Path) -> Iterator[str]:
    """A NATS of the platform's own: the containers' durable consumers start on a clean stream, not
    on the session server's stream holding every other test's events."""
    server = LocalNats(tmp_path / "nats").start()
    try:
        yield server.url
    finally:
        server.stop()
