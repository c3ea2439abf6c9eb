"""schemathesis over every service's OpenAPI document: each service runs in-process on the suite's
PostgreSQL and NATS, its served ``/openapi.json`` is loaded, and every operation is called with a
bounded number of generated requests — valid ones (positive mode) and invalid ones (negative mode)
— under a valid token of a tenant with data. Every response must pass schemathesis's
``not_a_server_error``, ``response_schema_conformance``, ``status_code_conformance`` and
``content_type_conformance`` checks: no 5xx, no body outside its documented schema, no undocumented
status code, no undocumented content type.

``STEWARD_SCHEMATHESIS_EXAMPLES`` raises the per-operation, per-mode example count (default 2) for a
longer local run (with ``--timeout 0``: the suite's 300 s limit is sized for the default);
operations, requests and failures are printed per service (``pytest -s``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from steward.issues.testing import migrate as migrate_issues
from steward.issues.testing import running_issues
from steward.meetings.testing import migrate as migrate_meetings
from steward.meetings.testing import running_meetings
from steward.notify.testing import migrate as migrate_notify
from steward.notify.testing import notify_settings, running_notify
from steward.registry.testing import Registry, create_project, make_tree, running_registry
from steward.registry.testing import migrate as migrate_registry
from steward.scoring.testing import migrate as migrate_scoring
from steward.scoring.testing import running_scoring

SERVICES = ("registry", "issues", "meetings", "scoring", "notify")
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
EXAMPLES = int(os.environ.get("STEWARD_SCHEMATHESIS_EXAMPLES", "2"))
# long-lived streams: schemathesis reads a whole body, so they are checked by the services' own tests
SKIP = {("notify", "GET", "/v1/inbox/stream")}


@dataclass
class Tally:
    operations: int = 0
    requests: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def databases(make_database: Any) -> dict[str, str]:
    """Migrated databases (migrations run their own event loop: a sync fixture)."""
    return {
        "registry": migrate_registry(make_database("fuzz_registry")),
        "issues": migrate_issues(make_database("fuzz_issues")),
        "meetings": migrate_meetings(make_database("fuzz_meetings")),
        "scoring": migrate_scoring(make_database("fuzz_scoring")),
        "notify": migrate_notify(make_database("fuzz_notify")),
    }


@pytest.fixture(scope="module")
async def platform(databases: dict[str, str], nats_url: str) -> AsyncIterator[tuple[dict[str, str], str]]:
    """The five services on loopback, and a tenant with a project (so lists have rows to validate)."""
    async with running_registry(databases["registry"], nats_url) as registry:
        tree = await make_tree(registry)
        created = await create_project(
            registry, tree.districts[0], location={"lon": 121.47, "lat": 31.23, "address": "测试路1号"}
        )
        assert created.status_code == 201, created.text
        async with (
            running_issues(databases["issues"], nats_url, registry.grpc_target) as issues,
            running_scoring(databases["scoring"], nats_url, registry.grpc_target) as scoring,
            running_notify(notify_settings(databases["notify"], nats_url, registry.grpc_target)) as notify,
            running_meetings(
                databases["meetings"], nats_url, registry.grpc_target, issues.grpc_target
            ) as meetings,
        ):
            urls = {
                "registry": registry.base_url,
                "issues": issues.base_url,
                "meetings": meetings.base_url,
                "scoring": scoring.base_url,
                "notify": notify.base_url,
            }
            yield urls, tree.city


def exercise(
    operation: schemathesis.APIOperation,
    mode: schemathesis.GenerationMode,
    base_url: str,
    session: requests.Session,
    headers: dict[str, str],
    tally: Tally,
) -> None:
    """``EXAMPLES`` generated requests of one operation in one mode, each response checked."""
    try:
        strategy = operation.as_strategy(generation_mode=mode)
    except Exception as exc:  # an operation that has no invalid input in this mode
        if mode is schemathesis.GenerationMode.NEGATIVE:
            return
        raise AssertionError(f"{operation.label}: {exc}") from exc

    @given(case=strategy)
    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
        tally.requests += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                kind = type(failure).__name__
                tally.failures[kind] += 1
                if len(tally.samples) < 40:
                    tally.samples.append(
                        f"{kind} {mode.value} {operation.label} -> {response.status_code}: "
                        f"{failure.title} {failure.message[:300]!r} "
                        f"[{case.path_parameters} {case.query} {str(case.body)[:200]}]"
                    )

    with contextlib.suppress(hypothesis.errors.Unsatisfiable):
        run()


def fuzz(service: str, base_url: str, token: str) -> Tally:
    """Every operation of the service's served document in both generation modes (blocking: runs
    in a worker thread while the services serve on the test's event loop)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    tally = Tally()
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    for result in schema.get_all_operations():
        operation = result.ok()
        if (service, operation.method.upper(), operation.path) in SKIP:
            continue
        tally.operations += 1
        for mode in MODES:
            exercise(operation, mode, base_url, session, headers, tally)
    return tally


async def test_every_operation_conforms_to_its_document(platform: tuple[dict[str, str], str]) -> None:
    urls, tenant = platform
    token = Registry.token(tenant, "tenant_admin")
    tallies = {}
    for service in SERVICES:
        tallies[service] = await asyncio.to_thread(fuzz, service, urls[service], token)
    report = []
    for service, tally in tallies.items():
        report.append(
            f"{service}: {tally.operations} operations, {tally.requests} requests, "
            f"failures {dict(tally.failures) or 0}"
        )
        report.extend(f"  {s}" for s in tally.samples)
    text = "\n".join(report)
    print("\nschemathesis\n" + text)
    assert all(t.operations > 0 and t.requests >= t.operations for t in tallies.values()), text
    assert not any(t.failures for t in tallies.values()), text
