"""Service-to-service auth with the environment the Helm chart renders: the registry, issues and
notify run as processes (``python -m steward.<service> serve``) with exactly the variables of their rendered
Deployments (ConfigMap, Secret references, the mounted client secret), only addresses replaced by
the test's PostgreSQL, NATS, IdP and free ports. A local IdP issues RS256 tokens living 5 seconds;
the services fetch their own by OAuth2 client credentials. Matters are filed for longer than three
token lifetimes, each in a tenant issues and notify have not asked the registry about (so every
filing, and every inbox read in that tenant, needs the service token): no 401, no 500."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import helm_python as helm
import httpx
import pytest

from steward.devtools.chart import CHART, RELEASE, one, render
from steward.issues.testing import migrate as migrate_issues
from steward.kit.db import Database
from steward.kit.sealing import generate_key
from steward.kit.testidp import LocalIdP
from steward.notify.testing.service import migrate as migrate_notify
from steward.registry.testing import make_tree
from steward.registry.testing import migrate as migrate_registry

CLIENT_ID, CLIENT_SECRET = "steward-services", "cc-secret-for-the-test"
LIFETIME = 5  # seconds a service token lives
pytestmark = pytest.mark.timeout(420)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chart_environment(
    docs: list[dict[str, Any]], svc: str, secrets: dict[tuple[str, str], str], files: Path
) -> dict[str, str]:
    """The variables a pod of ``svc`` gets: its ConfigMap (envFrom), its env entries with Secret
    references resolved from ``secrets``, and mounted Secret files (written under ``files``)."""
    deployment = one(docs, "Deployment", f"{RELEASE}-{svc}")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(one(docs, "ConfigMap", source["configMapRef"]["name"])["data"])
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            env[entry["name"]] = secrets[(ref["name"], ref["key"])]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        secret = volumes[mount["name"]].get("secret")
        if secret is None:
            continue
        target = files / svc / mount["mountPath"].strip("/")
        target.mkdir(parents=True, exist_ok=True)
        for item in secret["items"]:
            (target / item["path"]).write_text(secrets[(secret["secretName"], item["key"])])
        # the mount path, as this machine sees it
        for key, value in env.items():
            if value.startswith(mount["mountPath"] + "/"):
                env[key] = str(target) + value[len(mount["mountPath"]) :]
    return env


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


@pytest.fixture
def databases(make_database: Any) -> dict[str, str]:
    """Each service's own database, migrated (the chart's migration Jobs)."""
    return {
        "registry": migrate_registry(make_database("auth_registry")),
        "issues": migrate_issues(make_database("auth_issues")),
        "notify": migrate_notify(make_database("auth_notify")),
    }


@asynccontextmanager
async def service_process(svc: str, env: dict[str, str], log: Path) -> AsyncIterator[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", f"steward.{svc}", "serve", env={**base, **env}, stdout=out, stderr=out
        )
        url = f"http://127.0.0.1:{env['STEWARD_HTTP_PORT']}"
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                for _ in range(600):
                    if proc.returncode is not None:
                        raise AssertionError(f"{svc} exited: {_tail(log)}")
                    try:
                        if (await client.get(f"{url}/readyz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError(f"{svc} not ready: {_tail(log)}")
            yield url
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


async def test_services_with_the_chart_environment_file_matters_past_three_token_lifetimes(
    databases: dict[str, str], nats_url: str, tmp_path: Path
) -> None:
    idp = LocalIdP(clients={CLIENT_ID: CLIENT_SECRET}, token_lifetime=LIFETIME)
    tree = await _tree(databases["registry"])
    async with idp.serve() as issuer:
        with helm.Chart.load(CHART) as chart:
            docs = render(
                chart,
                {
                    "auth": {"jwt": {"issuer": issuer, "jwksUrl": idp.jwks_url}},
                    "nats": {"external": {"url": nats_url}},
                    "secretsKeys": {"existingSecret": "steward-secrets-keys"},  # notify needs them
                },
            )
        secrets = {(f"{RELEASE}-{svc}-db", "url"): url for svc, url in databases.items()}
        secrets[(f"{RELEASE}-service-client", "client-id")] = CLIENT_ID
        secrets[(f"{RELEASE}-service-client", "client-secret")] = CLIENT_SECRET
        secrets[("steward-secrets-keys", "keys")] = generate_key("k1")
        env = {svc: chart_environment(docs, svc, secrets, tmp_path) for svc in databases}
        assert env["issues"]["STEWARD_ENVIRONMENT"] == "production"
        assert "STEWARD_SERVICE_TOKEN" not in env["issues"] and "STEWARD_JWT_DEV_SECRET" not in env["issues"]
        assert env["issues"]["STEWARD_SERVICE_CLIENT_ID"] == CLIENT_ID
        ports = {svc: (_free_port(), _free_port()) for svc in databases}
        for svc, (http, grpc) in ports.items():
            env[svc].update(
                STEWARD_HTTP_HOST="127.0.0.1",
                STEWARD_HTTP_PORT=str(http),
                STEWARD_GRPC_HOST="127.0.0.1",
                STEWARD_GRPC_PORT=str(grpc),
            )
            env[svc]["STEWARD_REGISTRY_GRPC_TARGET"] = f"127.0.0.1:{ports['registry'][1]}"
        async with (
            service_process("registry", env["registry"], tmp_path / "registry.log") as registry,
            service_process("issues", env["issues"], tmp_path / "issues.log") as issues,
            service_process("notify", env["notify"], tmp_path / "notify.log") as notify,
            httpx.AsyncClient(timeout=30) as http,
        ):
            statuses = await _file_matters(
                idp, http, {"registry": registry, "issues": issues, "notify": notify}, tree
            )
    assert set(statuses) == {(201, 200)}, statuses
    # tokens were fetched again as they aged: at least one per lifetime and service, never one per call
    assert 3 * 2 <= idp.tokens_issued <= len(statuses), (idp.tokens_issued, len(statuses))
    print(f"{len(statuses)} filings over {3 * LIFETIME + 2} s; {idp.tokens_issued} service tokens issued")


async def _tree(registry_db: str) -> Any:
    db = Database(registry_db)
    try:
        return await make_tree(db)
    finally:
        await db.dispose()


async def _file_matters(
    idp: LocalIdP, http: httpx.AsyncClient, url: dict[str, str], tree: Any
) -> list[tuple[int, int]]:
    def auth(*roles: str, tenant: str = tree.city) -> dict[str, str]:
        token = idp.issue({"sub": "auth-test", "tenant": tenant, "roles": list(roles)}, lifetime=60)
        return {"Authorization": f"Bearer {token}"}

    district = tree.districts[2]
    statuses: list[tuple[int, int]] = []
    started = time.monotonic()
    n = 100  # township codes <district>100.. (make_tree's township is <district>004)
    while time.monotonic() - started < 3 * LIFETIME + 2:
        n += 1
        township = f"{district}{n:03d}"
        made = await http.post(
            f"{url['registry']}/v1/tenants",
            json={"code": township, "name": f"街道{n}", "kind": "township", "parent": district},
            headers=auth("tenant_admin"),
        )
        assert made.status_code == 201, made.text
        # a tenant issues has not seen: ancestry and rules come from the registry with its own token
        filed = await http.post(
            f"{url['issues']}/v1/matters",
            json={
                "kind": "complaint",
                "tenant": township,
                "title": "审批窗口推诿扯皮",
                "complaint": {"against_unit": "某审批窗口"},
            },
            headers=auth("dispatcher"),
        )
        assert filed.status_code not in (401, 500), filed.text
        # notify checks an unseen tenant with the registry (its tenant gate) with its own token
        inbox = await http.get(f"{url['notify']}/v1/inbox", headers=auth("dispatcher", tenant=township))
        assert inbox.status_code not in (401, 500), inbox.text
        statuses.append((filed.status_code, inbox.status_code))
        await asyncio.sleep(0.4)
    return statuses
