"""Client generators can use the published OpenAPI documents: ``openapi-python-client`` (pinned in the
workspace's dev dependencies) generates a Python client from each ``docs/api/<service>.openapi.json``
without a warning, and the generated client makes a real authenticated call against the service
running in-process on the suite's PostgreSQL and NATS — and parses the documented error envelope of
an unauthenticated one."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from steward.issues.testing import migrate as migrate_issues
from steward.issues.testing import running_issues
from steward.meetings.testing import migrate as migrate_meetings
from steward.meetings.testing import running_meetings
from steward.notify.testing import migrate as migrate_notify
from steward.notify.testing import notify_settings, running_notify
from steward.registry.testing import Registry, make_tree, running_registry
from steward.registry.testing import migrate as migrate_registry
from steward.scoring.testing import migrate as migrate_scoring
from steward.scoring.testing import running_scoring

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "api"
BIN = Path(sys.executable).parent

# service -> (tag module, operationId) of an authenticated GET without required parameters
CALLS = {
    "registry": ("circulars", "list_circulars_v1_circulars_get"),
    "issues": ("matters", "list_matters_v1_matters_get"),
    "meetings": ("meetings", "list_meetings_v1_meetings_get"),
    "scoring": ("lights", "list_lights_v1_scoring_lights_get"),
    "notify": ("inbox", "unread_view_v1_inbox_unread_count_get"),
}


@dataclass
class Platform:
    urls: dict[str, str]
    tenant: str


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One generated package per service, ``steward_<service>_client``, under a temporary directory."""
    out = tmp_path_factory.mktemp("clients")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # its ruff post-hooks
    for service in CALLS:
        spec = DOCS / f"{service}.openapi.json"
        assert spec.is_file(), f"{spec} is missing: run make docs"
        result = subprocess.run(
            [
                str(BIN / "openapi-python-client"),
                "generate",
                "--path",
                str(spec),
                "--output-path",
                str(out / f"steward_{service}_client"),
                "--meta",
                "none",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "Warning" not in output and "Unable to" not in output, output  # no operation dropped
    sys.path.insert(0, str(out))
    return out


@pytest.fixture(scope="module")
def databases(make_database: Any) -> dict[str, str]:
    """Migrated databases (migrations run their own event loop: a sync fixture)."""
    return {
        "registry": migrate_registry(make_database("clients_registry")),
        "issues": migrate_issues(make_database("clients_issues")),
        "meetings": migrate_meetings(make_database("clients_meetings")),
        "scoring": migrate_scoring(make_database("clients_scoring")),
        "notify": migrate_notify(make_database("clients_notify")),
    }


@pytest.fixture(scope="module")
async def platform(databases: dict[str, str], nats_url: str) -> AsyncIterator[Platform]:
    reg_db, issues_db, meetings_db, scoring_db, notify_db = (
        databases[s] for s in ("registry", "issues", "meetings", "scoring", "notify")
    )
    async with running_registry(reg_db, nats_url) as registry:
        tree = await make_tree(registry)
        async with (
            running_issues(issues_db, nats_url, registry.grpc_target) as issues,
            running_scoring(scoring_db, nats_url, registry.grpc_target) as scoring,
            running_notify(notify_settings(notify_db, nats_url, registry.grpc_target)) as notify,
            running_meetings(meetings_db, nats_url, registry.grpc_target, issues.grpc_target) as meetings,
        ):
            yield Platform(
                urls={
                    "registry": registry.base_url,
                    "issues": issues.base_url,
                    "meetings": meetings.base_url,
                    "scoring": scoring.base_url,
                    "notify": notify.base_url,
                },
                tenant=tree.city,
            )


@pytest.mark.parametrize("service", sorted(CALLS))
async def test_generated_client_calls_the_running_service(
    service: str, clients: Path, platform: Platform
) -> None:
    package = f"steward_{service}_client"
    client_module = importlib.import_module(f"{package}.client")
    models = importlib.import_module(f"{package}.models")
    tag, operation_id = CALLS[service]
    operation = importlib.import_module(f"{package}.api.{tag}.{operation_id}")
    token = Registry.token(platform.tenant, "tenant_admin")

    async with client_module.AuthenticatedClient(base_url=platform.urls[service], token=token) as client:
        response = await operation.asyncio_detailed(client=client)
    assert response.status_code == 200, response.content
    assert response.parsed is not None
    assert json.loads(response.content) is not None

    async with client_module.Client(base_url=platform.urls[service]) as anonymous:
        refused = await operation.asyncio_detailed(client=anonymous)
    assert refused.status_code == 401
    assert isinstance(refused.parsed, models.ErrorResponse)  # the documented envelope, parsed
    assert refused.parsed.error.code == "missing_token"


async def test_a_real_scrape_reports_consumer_lag_under_the_stable_name(platform: Platform) -> None:
    """What the StewardConsumerLag alert reads: after a readiness check, notify's shared consumer
    reports its pending events (a real /metrics scrape of the running service)."""
    async with httpx.AsyncClient(base_url=platform.urls["notify"], timeout=10) as http:
        assert (await http.get("/readyz")).status_code == 200
        text = (await http.get("/metrics")).text
    samples = {
        (s.name, s.labels.get("consumer"))
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "steward_consumer_pending"
    }
    assert ("steward_consumer_pending", "notify") in samples, samples
