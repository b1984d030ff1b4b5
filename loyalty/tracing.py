"""Tracing with OpenTelemetry: one trace per request, its SQL statements and resolvers as child spans.

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the standard OpenTelemetry variables configure the
exporter: `OTEL_SERVICE_NAME`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_TRACES_SAMPLER`, …). Off, nothing
is installed: no middleware, no wrapped driver, no schema extension, so it costs a request nothing.

On, three layers report, each to the same tracer provider:
- the HTTP request (the ASGI middleware of OpenTelemetry, outermost, so the trace spans the whole answer);
- the GraphQL operation, its parsing, validation and each resolver of our own (strawberry's extension);
- every statement sent to PostgreSQL (the asyncpg instrumentation: it sees the statements SQLAlchemy
  sends and those sent straight to the driver alike, each once).
"""

from __future__ import annotations

import os
from typing import Any

SERVICE_NAME = "loyalty-club"


def provider_from_environment() -> Any | None:
    """The tracer provider exporting OTLP over HTTP when an endpoint is configured; None otherwise."""
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") and not os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME", SERVICE_NAME)
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def graphql_extension(provider: Any) -> Any:
    """Strawberry's tracing extension, reporting to `provider`: spans of the operation and its resolvers."""
    from strawberry.extensions.tracing import OpenTelemetryExtension

    class Traced(OpenTelemetryExtension):
        def __init__(self, *, execution_context: Any = None) -> None:
            super().__init__(execution_context=execution_context, tracer_provider=provider)

    return Traced


def middleware(provider: Any) -> list[Any]:
    """The app's outermost middleware when traced: each request in a span, its statements child spans."""
    if provider is None:
        return []
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from starlette.middleware import Middleware

    instrumentor = AsyncPGInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider)
    return [Middleware(OpenTelemetryMiddleware, tracer_provider=provider, excluded_urls="healthz,readyz,metrics")]


def current_trace_id() -> str | None:
    """The id of the trace being recorded, as the tracing backend shows it (32 hex digits)."""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def stop(provider: Any) -> None:
    """Send what is left and stop (the app's shutdown)."""
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    AsyncPGInstrumentor().uninstrument()
    provider.shutdown()
