"""Build the ``steward-<service>:<version>`` images here, without any container registry.

``make images`` runs this. The base root filesystem is Debian bookworm made with ``debootstrap``
from the Debian mirror apt uses (Python from Debian's ``python3`` and ``python3-venv``), imported
into podman as ``localhost/steward-base:bookworm-<key>``; then ``deploy/images/Containerfile`` is
built on it once per service (``--build-arg BASE=... --build-arg SERVICE=...``). The six tags share
every layer but the last (command and labels). The base is cached in ``.steward/images/`` and in
podman's storage, so a second build only repeats the steps whose inputs changed.

``--base python:3.11-slim`` builds the same Containerfile on the registry's Python image instead.
Missing ``debootstrap``/``podman``/``runc`` are installed with apt-get when run as root.

    python scripts/build_images.py [--services issues,notify] [--base IMAGE] [--tag-only]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".steward" / "images"
CONTAINERFILE = ROOT / "deploy" / "images" / "Containerfile"
CHART = ROOT / "deploy" / "helm" / "steward" / "Chart.yaml"
SERVICES = ("registry", "issues", "meetings", "scoring", "notify", "console")
RUNC = "/usr/sbin/runc"
SUITE = "bookworm"
PACKAGES = ("python3", "python3-venv", "ca-certificates")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
TOOLS = {"debootstrap": "debootstrap", "podman": "podman", "runc": "runc"}
# what the base does not need at run time (docs, manuals, apt's downloads and lists)
PRUNE = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
    "var/cache/apt",
    "var/lib/apt/lists",
)
# the host's CA bundle, mounted into the build's downloads (pip, uv) when present
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
BUILD_CA = "/etc/ssl/steward-build-ca.pem"


def log(message: str) -> None:
    print(f"images: {message}", flush=True)


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    log("$ " + " ".join(cmd))
    return subprocess.run(cmd, check=True, **kwargs)  # type: ignore[call-overload,no-any-return]


def chart_version() -> str:
    """The chart's appVersion: the tag the chart deploys by default."""
    match = re.search(r'^appVersion:\s*"?([^"\s]+)"?\s*$', CHART.read_text(), re.MULTILINE)
    if not match:
        raise SystemExit(f"no appVersion in {CHART}")
    return match.group(1)


def debian_mirror() -> str:
    """The Debian mirror apt on this machine uses (deb822 or one-line sources), else deb.debian.org."""
    if os.environ.get("STEWARD_DEBIAN_MIRROR"):
        return os.environ["STEWARD_DEBIAN_MIRROR"]
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        for block in re.split(r"\n\s*\n", text):  # deb822: URIs + Suites in one stanza
            uris = re.search(r"^URIs:\s*(\S+)", block, re.MULTILINE)
            suites = re.search(r"^Suites:\s*(.+)$", block, re.MULTILINE)
            if uris and suites and SUITE in suites.group(1).split() and "security" not in uris.group(1):
                return uris.group(1).rstrip("/")
        for line in text.splitlines():  # one-line: deb [options] URI SUITE COMPONENTS...
            parts = re.sub(r"\[[^]]*\]", " ", line).split()
            if len(parts) >= 3 and parts[0] == "deb" and parts[2] == SUITE and "security" not in parts[1]:
                return parts[1].rstrip("/")
    return DEFAULT_MIRROR


def ensure_tools(names: list[str]) -> None:
    missing = [n for n in names if not (shutil.which(n) or (n == "runc" and Path(RUNC).exists()))]
    if not missing:
        return
    packages = [TOOLS[n] for n in missing]
    if os.geteuid() != 0:
        raise SystemExit(
            f"images: {', '.join(missing)} missing; run as root: apt-get install -y {' '.join(packages)}"
        )
    log(f"installing Debian's {' '.join(packages)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", *packages]
    if subprocess.run(install, env=env).returncode != 0:
        run(["apt-get", "update", "-q"], env=env)
        run(install, env=env)


def podman(*args: str) -> list[str]:
    return ["podman", "--runtime", RUNC, *args]


def image_exists(name: str) -> bool:
    return subprocess.run(podman("image", "exists", name)).returncode == 0


def base_image(mirror: str) -> str:
    """The Debian base in podman's storage: imported from the cached tarball, made when missing."""
    key = hashlib.sha256(f"{SUITE}|{mirror}|{','.join(PACKAGES)}|{','.join(PRUNE)}".encode()).hexdigest()[:12]
    name = f"localhost/steward-base:{SUITE}-{key}"
    if image_exists(name):
        log(f"base {name} (cached in podman)")
        return name
    CACHE.mkdir(parents=True, exist_ok=True)
    tarball = CACHE / f"base-{SUITE}-{key}.tar"
    if not tarball.exists():
        ensure_tools(["debootstrap"])
        rootfs = CACHE / f"rootfs-{SUITE}-{key}"
        shutil.rmtree(rootfs, ignore_errors=True)
        include = ",".join(PACKAGES)
        run(["debootstrap", "--variant=minbase", f"--include={include}", SUITE, str(rootfs), mirror])
        for rel in PRUNE:
            target = rootfs / rel
            if target.exists():
                shutil.rmtree(target)
                target.mkdir(parents=True)
        partial = tarball.with_suffix(".partial")
        run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."])
        partial.rename(tarball)
        shutil.rmtree(rootfs, ignore_errors=True)
    changes = [
        "ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV=LANG=C.UTF-8",
        'CMD=["/bin/bash"]',
    ]
    run(podman("import", *[f"--change={c}" for c in changes], str(tarball), name))
    return name


def build(tag: str, base: str, pull: str, *args: str, file: Path = CONTAINERFILE) -> str:
    ca = ["--volume", f"{HOST_CA}:{BUILD_CA}:ro", "--build-arg", f"CA_BUNDLE={BUILD_CA}"]
    run(
        podman(
            "build",
            "--runtime",
            RUNC,
            "--network",
            "host",
            "--layers",
            f"--pull={pull}",
            *(ca if HOST_CA.exists() else []),
            "--file",
            str(file),
            "--build-arg",
            f"BASE={base}",
            *args,
            "--tag",
            tag,
            str(ROOT),
        )
    )
    return tag


def build_all(services: list[str], version: str, base: str, pull: str) -> list[str]:
    """The shared runtime image once (one snapshot of the sources), then one thin tag per service."""
    runtime = build(f"steward-runtime:{version}", base, pull, "--target", "runtime")
    return [
        build(
            f"steward-{service}:{version}",
            base,
            "never",  # the runtime image just built
            "--build-arg",
            f"RUNTIME=localhost/{runtime}",
            "--no-cache",  # metadata only; buildah's layer cache ignores the SERVICE argument here
            "--build-arg",
            f"SERVICE={service}",
            "--build-arg",
            f"VERSION={version}",
            file=CONTAINERFILE.with_name("Containerfile.service"),
        )
        for service in services
    ]


def sizes(tags: list[str]) -> None:
    out = subprocess.run(
        podman("images", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}"),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    wanted = {f"localhost/{t}" for t in tags} | {f"localhost/steward-runtime:{tags[0].split(':')[-1]}"}
    for line in out.splitlines():
        if line.split(" ", 1)[0] in wanted or "steward-base" in line:
            log(f"size {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--services", default=",".join(SERVICES), help="comma-separated (default: all)")
    parser.add_argument("--version", default="", help="image tag (default: the chart's appVersion)")
    parser.add_argument(
        "--base", default="", help="base image (default: the debootstrap Debian base made here)"
    )
    args = parser.parse_args(argv)
    services = [s for s in args.services.split(",") if s]
    unknown = sorted(set(services) - set(SERVICES))
    if unknown:
        parser.error(f"unknown services: {', '.join(unknown)}")
    version = args.version or chart_version()
    ensure_tools(["podman", "runc"])
    started = time.monotonic()
    if args.base:
        base, pull = args.base, "missing"
    else:
        base, pull = base_image(debian_mirror()), "never"
    log(f"base ready in {time.monotonic() - started:.1f}s")
    tags = build_all(services, version, base, pull)
    log(f"built {', '.join(tags)} in {time.monotonic() - started:.1f}s")
    sizes(tags)
    return 0


if __name__ == "__main__":
    sys.exit(main())
