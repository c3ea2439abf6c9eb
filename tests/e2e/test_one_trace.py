"""One filing, one trace: the issues REST request, its registry gRPC call, its SQL, the outbox
publish and notify's consumer all carry the same trace id, each span a child of the one before.

Registry, issues and notify run in this event loop on real loopback sockets (HTTP, gRPC) with a
NATS server of their own, so nothing but the trace headers carries the context from one to the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from steward.devtools.natsinfra import LocalNats
from steward.issues.testing import auth, running_issues
from steward.issues.testing import migrate as migrate_issues
from steward.notify.testing import free_port, notify_settings, running_notify
from steward.notify.testing import migrate as migrate_notify
from steward.registry.testing import create_project, make_tree, running_registry
from steward.registry.testing import migrate as migrate_registry


class _Collector(SpanExporter):
    """Keeps finished spans while a test listens; drops them otherwise (the provider is global)."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] | None = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.spans is not None:
            self.spans.extend(spans)
        return SpanExportResult.SUCCESS


_COLLECTOR = _Collector()


@pytest.fixture
def spans() -> Iterator[list[ReadableSpan]]:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # the first test to need one installs it
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
        provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    if not getattr(provider, "_steward_collector", False):
        provider.add_span_processor(SimpleSpanProcessor(_COLLECTOR))
        provider._steward_collector = True  # type: ignore[attr-defined]
    _COLLECTOR.spans = []
    try:
        yield _COLLECTOR.spans
    finally:
        _COLLECTOR.spans = None


@pytest.fixture
def private_nats() -> Iterator[str]:
    with LocalNats() as nats:
        yield nats.url


@pytest.fixture
def databases(make_database: Any) -> tuple[str, str, str]:
    """Migrated databases (Alembic runs its own event loop, so this fixture is sync)."""
    return (
        migrate_registry(make_database("trace_registry")),
        migrate_issues(make_database("trace_issues")),
        migrate_notify(make_database("trace_notify")),
    )


@pytest.mark.timeout(180)
async def test_a_filing_is_one_trace_across_services(
    spans: list[ReadableSpan], databases: tuple[str, str, str], private_nats: str
) -> None:
    reg_db, issues_db, notify_db = databases
    async with running_registry(reg_db, private_nats, trace_sql=True) as registry:
        tree = await make_tree(registry)
        district = tree.districts[0]
        project = (await create_project(registry, district, total_investment="8000万")).json()
        n_settings = notify_settings(notify_db, private_nats, registry.grpc_target, smtp_port=free_port())
        async with (
            running_notify(n_settings),
            running_issues(issues_db, private_nats, registry.grpc_target, trace_sql=True) as issues,
        ):
            spans.clear()
            r = await issues.http.post(
                "/v1/matters",
                json={
                    "kind": "obstacle",
                    "project_id": project["id"],
                    "title": "施工用电接入迟迟未落实",
                    "category": "utilities",
                },
                headers=auth(district, "dispatcher"),
            )
            assert r.status_code == 201, r.text
            number = r.json()["number"]

            def consumed() -> ReadableSpan | None:
                return next(
                    (
                        s
                        for s in spans
                        if s.name == "consume matter.filed"
                        and "notify" in str((s.attributes or {}).get("messaging.consumer.group.name"))
                    ),
                    None,
                )

            for _ in range(300):
                if consumed() is not None:
                    break
                await asyncio.sleep(0.1)

    request = next(s for s in spans if s.name == "POST /v1/matters" and s.kind == trace.SpanKind.SERVER)
    assert request.attributes is not None and request.attributes.get("http.route") == "/v1/matters"
    trace_id = request.context.trace_id
    mine = [s for s in spans if s.context.trace_id == trace_id]
    by_id = {s.context.span_id: s for s in mine}

    def ancestors(span: ReadableSpan) -> list[str]:
        names, parent = [], span.parent
        while parent is not None and parent.span_id in by_id:
            names.append(by_id[parent.span_id].name)
            parent = by_id[parent.span_id].parent
        return names

    grpc_servers = [
        s for s in mine if s.kind == trace.SpanKind.SERVER and s.name.startswith("/steward.api.registry")
    ]
    assert grpc_servers, sorted({s.name for s in mine})
    assert all("POST /v1/matters" in ancestors(s) for s in grpc_servers)
    sql = [s for s in mine if s.kind == trace.SpanKind.CLIENT and (s.attributes or {}).get("db.system")]
    assert sql and all("POST /v1/matters" in ancestors(s) for s in sql)
    publish = next(s for s in mine if s.name == "publish steward.matter.filed.v1")
    assert publish.kind == trace.SpanKind.PRODUCER
    consume = consumed()
    assert consume is not None, f"notify never consumed matter.filed ({number})"
    assert consume.context.trace_id == trace_id
    assert ancestors(consume)[0] == publish.name  # consumer <- publish <- (the request's trace)
    # no root spans besides the request in this trace: every hop joined it
    assert [s.name for s in mine if s.parent is None] == ["POST /v1/matters"]
