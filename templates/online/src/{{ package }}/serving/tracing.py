"""Optional OpenTelemetry traces: one server span per request, W3C trace context honoured.

Off by default; ``APP_TRACING=true`` turns it on and needs the ``otel`` extra. The
OpenTelemetry packages are imported only then.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..inference.errors import ModelLoadError
from .asgi import route_of
from .settings import ServingSettings


def tracing_middleware(
    app: Any, settings: ServingSettings, service_name: str, on_close: list[Callable[[], Any]]
) -> Any:
    """Wrap ``app`` in a tracing middleware, or return it unchanged when tracing is off.

    The exporter is flushed through ``on_close`` at shutdown: uvicorn ends the process by
    re-raising SIGTERM, which skips ``atexit`` handlers.
    """
    if not settings.tracing:
        return app
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
    exporter = (
        OTLPSpanExporter(endpoint=settings.otlp_endpoint)
        if settings.otlp_endpoint
        else OTLPSpanExporter()
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    on_close.append(provider.shutdown)
    tracer = trace.get_tracer(__name__)

    async def traced(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        route = route_of(scope["path"])
        with tracer.start_as_current_span(
            f"{scope['method']} {route}",
            context=propagate.extract(carrier),
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": scope["method"], "http.route": route},
        ) as span:

            async def send_traced(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                await send(message)

            await app(scope, receive, send_traced)

    return traced
