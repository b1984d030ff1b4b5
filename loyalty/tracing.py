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
from collections.abc import Iterator
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
    """Strawberry's tracing extension, reporting to `provider`: spans of the operation and its resolvers,
    holding neither the resolvers' arguments nor the document (either may hold a password, a PIN, a token,
    an identity document or phone number)."""
    from opentelemetry.trace import SpanKind
    from strawberry.extensions.tracing import OpenTelemetryExtension
    from strawberry.extensions.tracing.opentelemetry import LifecycleStep

    class Traced(OpenTelemetryExtension):
        def __init__(self, *, execution_context: Any = None) -> None:
            super().__init__(execution_context=execution_context, arg_filter=_no_arguments, tracer_provider=provider)

        def on_operation(self) -> Iterator[None]:
            # Strawberry's own, without its `query` attribute: the document, values written in it included.
            span = self._tracer.start_span("GraphQL Query", kind=SpanKind.SERVER)
            span.set_attribute("component", "graphql")
            self._span_holder[LifecycleStep.OPERATION] = span
            yield
            if self.execution_context.operation_name:
                span.update_name(f"GraphQL Query: {self.execution_context.operation_name}")
            span.end()

    return Traced


def _no_arguments(arguments: dict[str, Any], info: Any) -> dict[str, Any]:
    return {}


def middleware(provider: Any, trusted_proxies: Any) -> list[Any]:
    """The app's outermost middleware when traced: each request in a span, its statements child spans.

    A caller's trace context (`traceparent`) is taken only from a trusted proxy: anyone else could have
    every request of theirs sampled, or name the trace their lines are logged under. The span's URL holds
    no query string (a GET's variables would be in it)."""
    if provider is None:
        return []
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from starlette.middleware import Middleware

    instrumentor = AsyncPGInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider)
    return [
        Middleware(UntrustedTraceContextDropped, trusted_proxies=trusted_proxies),
        Middleware(
            OpenTelemetryMiddleware,
            tracer_provider=provider,
            excluded_urls="/healthz$,/readyz$,/metrics$",
            server_request_hook=_without_query,
        ),
    ]


class UntrustedTraceContextDropped:
    """Drop the W3C trace context headers of a request that does not come from a trusted proxy."""

    def __init__(self, app: Any, trusted_proxies: Any) -> None:
        self.app = app
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        peer = scope.get("client")
        if scope["type"] == "http" and not (self.trusted_proxies and peer and peer[0] in self.trusted_proxies):
            headers = scope.get("headers") or []
            if any(name in _TRACE_CONTEXT for name, _ in headers):
                scope = {**scope, "headers": [(n, v) for n, v in headers if n not in _TRACE_CONTEXT]}
        await self.app(scope, receive, send)


_TRACE_CONTEXT = {b"traceparent", b"tracestate", b"baggage"}


def _without_query(span: Any, scope: Any) -> None:
    if span.is_recording() and scope.get("query_string"):
        host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
        span.set_attribute("http.url", f"{scope.get('scheme', 'http')}://{host}{scope.get('path', '')}")
        span.set_attribute("http.target", scope.get("path", ""))
        span.set_attribute("url.query", "")


def current_trace_id() -> str | None:
    """The id of the trace being recorded, as the tracing backend shows it (32 hex digits); None when this
    request is not sampled (its trace is recorded nowhere)."""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid and context.trace_flags.sampled else None


def stop(provider: Any) -> None:
    """Send what is left and stop (the app's shutdown)."""
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    AsyncPGInstrumentor().uninstrument()
    provider.shutdown()
