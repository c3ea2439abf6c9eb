"""Logging (structlog, JSON with trace ids) and OpenTelemetry tracing (OTLP when configured)."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler, SamplingResult

from steward.kit.settings import ServiceSettings

_configured = False
_STEWARD_HANDLER = "_steward_json_handler"


def _add_trace_ids(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    span = trace.get_current_span()
    ctx = span.get_span_context()
    if ctx.is_valid:
        event_dict["trace_id"] = format(ctx.trace_id, "032x")
        event_dict["span_id"] = format(ctx.span_id, "016x")
    return event_dict


def setup_logging(*, service: str, level: str = "INFO", json_logs: bool = True) -> None:
    """structlog for our own lines, and every standard-library logger (uvicorn, grpc, nats,
    asyncio) routed through the same processors, so each line on stderr is one JSON object
    with the service, level, time, trace ids and the request id of the request it belongs to."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_ids,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json_logs
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, _STEWARD_HANDLER, False):
            root.removeHandler(old)
    setattr(handler, _STEWARD_HANDLER, True)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # a library's DeprecationWarning is a JSON line too, not raw text
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lib = logging.getLogger(name)
        lib.handlers.clear()  # their own plain-text handlers would print the line a second time
        lib.propagate = True


def _sampling_from_env() -> Sampler:
    try:
        from opentelemetry.sdk.trace.sampling import _get_from_env_or_default

        return _get_from_env_or_default()
    except ImportError:  # pragma: no cover - an SDK without the helper
        return ParentBased(ALWAYS_ON)


class WhenExported(Sampler):
    """Records spans only while a span processor is there to take them (an OTLP exporter, a test's
    collector), then as the SDK would (``OTEL_TRACES_SAMPLER``; by default parent-based: a request
    whose caller did not sample it is not sampled here either). Without one, every span would be
    built in full — attributes, events, timings — and thrown away, on every request and every
    event; dropped instead, a span still gets its ids, so log lines keep their trace id and
    ``traceparent`` still travels to the next service."""

    def __init__(self) -> None:
        self.listening = False
        # with an exporter: the SDK's own choice (OTEL_TRACES_SAMPLER, else parent-based always on)
        self.exported: Sampler = _sampling_from_env()

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        return (self.exported if self.listening else ALWAYS_OFF).should_sample(*args, **kwargs)

    def get_description(self) -> str:
        return "WhenExported"


class _Provider(TracerProvider):
    def __init__(self, sampler: WhenExported, **kwargs: Any) -> None:
        super().__init__(sampler=sampler, **kwargs)
        self._when_exported = sampler

    def add_span_processor(self, span_processor: SpanProcessor) -> None:
        super().add_span_processor(span_processor)
        self._when_exported.listening = True


def exporting() -> bool:
    """Spans may be recorded now: an exporter (or a test's collector) listens, or tracing is set up
    by someone else (then nothing is assumed)."""
    provider = trace.get_tracer_provider()
    return not isinstance(provider, _Provider) or provider._when_exported.listening


def setup_tracing(settings: ServiceSettings) -> None:
    global _configured
    if _configured:
        return
    provider = _Provider(
        WhenExported(), resource=Resource.create({"service.name": f"steward-{settings.service_name}"})
    )
    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint, insecure=True))
        )
    trace.set_tracer_provider(provider)
    _configured = True


def setup_telemetry(settings: ServiceSettings) -> None:
    setup_logging(service=settings.service_name, level=settings.log_level, json_logs=settings.log_json)
    setup_tracing(settings)
