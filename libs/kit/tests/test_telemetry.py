"""Spans are built only when something takes them; without, ids still flow (logs, traceparent)."""

from __future__ import annotations

from collections.abc import Sequence

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
