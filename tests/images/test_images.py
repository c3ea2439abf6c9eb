"""The whole platform from its container images (``make images``): every service migrated and served
by its own ``steward-<service>`` image, read-only root filesystem, a tmpfs ``/tmp``, non-root, against
the suite's embedded PostgreSQL and a NATS server of its own; a matter filed over REST reaches a notify inbox."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import subprocess
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from steward.devtools.procs import free_port
from steward.devtools.services import SERVICES, service_env, service_urls
from steward.kit.auth import mint_dev_token
from steward.kit.db import Database
from steward.registry.testing import Tree, make_tree

# the first test also builds the images (a cold build takes minutes: debootstrap, wheels)
pytestmark = pytest.mark.timeout(1800)

SECRET = "test-secret-images-0123456789abcdef"
READY_TIMEOUT = 120.0


def _token(tenant: str, role: str, sub: str = "image-test") -> dict[str, str]:
    token = mint_dev_token(secret=SECRET, subject=sub, tenant=tenant, roles=[role])
    return {"Authorization": f"Bearer {token}"}


async def _tree(url: str) -> Tree:
    db = Database(url)
    try:
        return await make_tree(db)
    finally:
        await db.dispose()


def _wait(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
            got = check()
            if got:
                return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def test_image_runs_as_non_root_on_a_read_only_root(image_version: str, containers: Any) -> None:
    image = f"localhost/steward-registry:{image_version}"
    probe = containers.popen(
        "probe",
        image,
        {},
        "python",
        "-c",
        "import os, shutil, steward.registry, steward.console\n"
        "print(os.getuid(), os.getgid())\n"
        "print([t for t in ('uv', 'pip', 'gcc', 'cc', 'apt-get') if shutil.which(t)])\n"
        "open('/tmp/ok', 'w').write('x')\n"
        "try:\n    open('/app/x', 'w')\nexcept OSError as e:\n    print('ro', e.errno)\n",
    )
    out, _ = probe.communicate(timeout=120)
    assert probe.returncode == 0, out
    uid, tools, ro = out.strip().splitlines()[-3:]
    assert uid == "10001 10001", out
    assert tools == "['apt-get']", out  # no uv, pip or compiler; the Debian base keeps apt
    assert ro.startswith("ro "), out
    for service in (s.name for s in SERVICES):  # every service has its image with its command
        name = f"localhost/steward-{service}:{image_version}"
        fmt = "{{.Config.User}}|{{.Config.Cmd}}|{{.Config.Env}}"
        inspect = subprocess.run(
            [*containers.podman, "image", "inspect", "--format", fmt, name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        user, cmd, env = inspect.split("|")
        assert user == "10001:10001" and "serve" in cmd, (service, inspect)
        assert f"STEWARD_IMAGE_SERVICE={service}" in env, (service, inspect)


def test_platform_from_images_files_a_matter_into_an_inbox(
    image_version: str,
    containers: Any,
    make_database: Callable[[str], str],
    platform_nats: str,
) -> None:
    specs = [s.with_ports(free_port(), free_port() if s.grpc_port else 0) for s in SERVICES]
    by_name = {s.name: s for s in specs}
    registry_target = f"127.0.0.1:{by_name['registry'].grpc_port}"
    base = {
        "STEWARD_ENVIRONMENT": "dev",
        "STEWARD_ISSUES_GRPC_TARGET": f"127.0.0.1:{by_name['issues'].grpc_port}",
        **service_urls(specs),
    }
    envs = {
        s.name: service_env(
            s,
            database_url=make_database(f"img_{s.name}") if s.database else "—",
            nats_url=platform_nats,
            jwt_secret=SECRET,
            registry_grpc_target=registry_target,
            base=base,
        )
        for s in specs
    }
    image = {s.name: f"localhost/steward-{s.name}:{image_version}" for s in specs}

    # migrations from the images, all at once (as the chart's hook Jobs do)
    migrating = {
        s.name: containers.popen(
            f"{s.name}-migrate", image[s.name], envs[s.name], "python", "-m", s.module, "migrate"
        )
        for s in specs
        if s.database
    }
    for name, proc in migrating.items():
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, (name, out[-3000:])

    # every service from its image; /readyz must come from the container we started
    instances: dict[str, str] = {}
    started: dict[str, str] = {}
    for s in specs:
        instances[s.name] = secrets.token_hex(8)
        env = {**envs[s.name], "STEWARD_INSTANCE_ID": instances[s.name]}
        started[s.name] = containers.start(s.name, image[s.name], env)
    for s in specs:

        def ready(s: Any = s) -> bool:
            r = httpx.get(f"http://127.0.0.1:{s.http_port}/readyz", timeout=3)
            return r.status_code == 200 and r.json().get("instance") == instances[s.name]

        try:
            _wait(ready, READY_TIMEOUT, f"{s.name} /readyz")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{containers.logs(started[s.name])}") from None

    # a project with a steward on its roster (the tenants are written straight into the registry)
    tree = asyncio.run(_tree(envs["registry"]["STEWARD_DATABASE_URL"]))
    d = tree.districts[0]
    reg = f"http://127.0.0.1:{by_name['registry'].http_port}"
    with httpx.Client(base_url=reg, timeout=15) as http:
        p = http.post(
            "/v1/projects",
            json={"tenant": d, "name": "镜像验证项目", "total_investment": "3000万"},
            headers=_token(d, "dispatcher"),
        )
        assert p.status_code == 201, p.text
        project = p.json()
        admin = _token(d, "tenant_admin")
        person = http.post(
            "/v1/people", json={"tenant": d, "name": "管家甲", "subject": "image-steward"}, headers=admin
        )
        assert person.status_code == 201, person.text
        roster = http.post(
            f"/v1/projects/{project['id']}/roster",
            json={"role_key": "steward", "person_id": person.json()["id"]},
            headers=admin,
        )
        assert roster.status_code == 201, roster.text

    issues = f"http://127.0.0.1:{by_name['issues'].http_port}"
    filed = httpx.post(
        f"{issues}/v1/matters",
        json={
            "kind": "obstacle",
            "project_id": project["id"],
            "title": "镜像中提交的问题",
            "category": "planning",
            "tier": "unit",
        },
        headers=_token(d, "dispatcher"),
        timeout=15,
    )
    assert filed.status_code == 201, filed.text

    notify = f"http://127.0.0.1:{by_name['notify'].http_port}"
    steward = _token(d, "steward", sub="image-steward")

    def delivered() -> dict[str, Any] | None:
        r = httpx.get(f"{notify}/v1/inbox", headers=steward, timeout=5)
        items = r.json()["items"] if r.status_code == 200 else []
        return next((m for m in items if "matter.filed" in m["event_type"]), None)

    try:
        message = _wait(delivered, 90, "the matter.filed message in the steward's inbox")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{containers.logs(started['notify'])}") from None
    assert message["project_id"] == project["id"], message

    # the console from its image answers too (it calls the others' REST APIs)
    console = httpx.get(f"http://127.0.0.1:{by_name['console'].http_port}/healthz", timeout=5)
    assert console.status_code == 200, console.text
