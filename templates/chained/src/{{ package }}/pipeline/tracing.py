"""Optional OpenTelemetry spans: one per request, one per stage, context sent to remote stages.

Off by default; ``APP_TRACING=true`` turns it on and needs the ``otel`` extra (exported over
OTLP/HTTP, configured by the standard ``OTEL_*`` variables). The packages are imported only
then, so the service does not pay for them otherwise.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..inference.errors import ModelLoadError


class Tracing:
    """Spans when a tracer is set; no-ops otherwise."""

    def __init__(self, tracer: Any = None, propagate: Any = None) -> None:
        self.tracer = tracer
        self._propagate = propagate

    @contextlib.contextmanager
    def span(
        self, name: str, carrier: dict[str, str] | None = None, **attributes: Any
    ) -> Iterator[Any]:
        if self.tracer is None:
            yield None
            return
        context = self._propagate.extract(carrier) if carrier is not None else None
        with self.tracer.start_as_current_span(name, context=context, attributes=attributes) as s:
            yield s

    def inject(self, headers: dict[str, str]) -> None:
        """Add the current trace context (``traceparent``) to an outgoing call."""
        if self._propagate is not None:
            self._propagate.inject(headers)


def setup(enabled: bool, service_name: str) -> tuple[Tracing, Any]:
    """Tracing and the provider's shutdown (flushes spans), or no-ops when off."""
    if not enabled:
        return Tracing(), None
    try:
        from opentelemetry import propagate, trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as error:
        raise ModelLoadError(
            f"APP_TRACING=true needs the otel extra ({error.name} is missing): "
            "pip install -e '.[otel]'"
        ) from error
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return Tracing(trace.get_tracer(__name__), propagate), provider.shutdown
