"""Spans are built only when something takes them; without, ids still flow (logs, traceparent)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from steward.kit.telemetry import WhenExported, _Provider


class _Keep(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def test_without_a_processor_spans_are_not_recorded_but_carry_ids() -> None:
    provider = _Provider(WhenExported())
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("request") as span:
        assert not span.is_recording()
        ctx = span.get_span_context()
        assert ctx.is_valid and ctx.trace_id  # a log line still gets a trace id
        carrier: dict[str, str] = {}
        TraceContextTextMapPropagator().inject(carrier)
        assert carrier["traceparent"].split("-")[1] == format(ctx.trace_id, "032x")
        with tracer.start_as_current_span("child") as child:
            assert child.get_span_context().trace_id == ctx.trace_id  # one trace, still


def test_once_an_exporter_is_added_spans_are_recorded_and_exported() -> None:
    provider = _Provider(WhenExported())
    keep = _Keep()
    provider.add_span_processor(SimpleSpanProcessor(keep))
    with provider.get_tracer("t").start_as_current_span("request", kind=trace.SpanKind.SERVER) as span:
        assert span.is_recording()
        span.set_attribute("http.route", "/v1/x")
    assert [s.name for s in keep.spans] == ["request"]
    assert keep.spans[0].attributes == {"http.route": "/v1/x"}


def test_with_an_exporter_the_callers_decision_is_kept() -> None:
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context

    provider = _Provider(WhenExported())
    provider.add_span_processor(SimpleSpanProcessor(_Keep()))
    unsampled = SpanContext(trace_id=1, span_id=2, is_remote=True, trace_flags=TraceFlags(0))
    parent = set_span_in_context(NonRecordingSpan(unsampled))
    with provider.get_tracer("t").start_as_current_span("request", context=parent) as span:
        assert not span.is_recording()  # parent-based: not sampled upstream, not here either


async def test_without_an_exporter_a_request_keeps_its_trace_and_builds_no_span_attributes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import opentelemetry.instrumentation.asgi as otel_asgi

    from steward.kit import http, telemetry

    collected: list[object] = []
    real_collect = otel_asgi.collect_request_attributes
    monkeypatch.setattr(
        otel_asgi, "collect_request_attributes", lambda *a: collected.append(a) or real_collect(*a)
    )
    seen: list[trace.SpanContext] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(trace.get_current_span().get_span_context())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    middleware = http.TraceContextMiddleware(app, excluded_urls="healthz", exclude_spans=["receive", "send"])
    middleware.tracer = _Provider(WhenExported()).get_tracer("t")
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/projects",
        "raw_path": b"/v1/projects",
        "query_string": b"",
        "scheme": "http",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 5000),
        "http_version": "1.1",
        "headers": [(b"traceparent", f"00-{trace_id}-{parent_id}-01".encode()), (b"host", b"x")],
    }
    monkeypatch.setattr(telemetry, "exporting", lambda: False)
    await middleware(scope, receive, send)
    assert format(seen[0].trace_id, "032x") == trace_id  # the caller's trace goes on
    assert format(seen[0].span_id, "016x") != parent_id  # under a span of this request's own
    assert collected == []  # no attributes built for a span nobody records

    monkeypatch.setattr(telemetry, "exporting", lambda: True)
    await middleware(scope, receive, send)
    assert collected  # exported: OpenTelemetry's own middleware, with the request's attributes
    assert format(seen[1].trace_id, "032x") == trace_id
