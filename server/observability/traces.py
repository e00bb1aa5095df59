"""OpenTelemetry traces, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

One trace per HTTP request or WebSocket: the ASGI instrumentation's server span (continuing a
caller's `traceparent`), under it a span per GraphQL operation, under that a span per UniPile
attempt (its endpoint template, account and retry), and under each the httpx instrumentation's
client span; on PostgreSQL the asyncpg instrumentation adds a span per statement. SQLite's
statements are not traced: aiosqlite runs them on a thread of its own, outside the request's
context, where they would only start orphan traces.

Only `server.app` imports this module, and only when tracing is configured: with no endpoint
neither the tracing SDK nor an exporter or instrumentation is loaded, and a request pays nothing
for them (`spans.untraced` stands in).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import httpx
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.httpx import AsyncOpenTelemetryTransport
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from starlette.types import ASGIApp

from core.version import SWITCHBOARD_VERSION
from server.observability.spans import Outcome

SERVICE = "switchboard"
TRACES_PATH = "/v1/traces"
# Probes and scrapes, several a second from an orchestrator and Prometheus: not worth a trace.
UNTRACED_PATHS = ("/healthz$", "/readyz$", "/metrics$")


def traces_url(endpoint: str) -> str:
    """The signal's URL under the collector's base URL, as the OTLP exporter specification
    builds it from `OTEL_EXPORTER_OTLP_ENDPOINT`."""
    return endpoint.rstrip("/") + TRACES_PATH


@dataclass(frozen=True, slots=True)
class Tracing:
    """The tracer provider of one app, and the instrumentation it puts around each part."""

    provider: TracerProvider

    @classmethod
    def exporting_to(cls, endpoint: str) -> Tracing:
        exporter = OTLPSpanExporter(endpoint=traces_url(endpoint))
        return cls.with_processor(BatchSpanProcessor(exporter))

    @classmethod
    def with_processor(cls, processor: SpanProcessor) -> Tracing:
        # `Resource.create` adds OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES over these.
        resource = Resource.create({SERVICE_NAME: SERVICE, SERVICE_VERSION: SWITCHBOARD_VERSION})
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(processor)
        return cls(provider)

    @property
    def tracer(self) -> Tracer:
        return self.provider.get_tracer(SERVICE, SWITCHBOARD_VERSION)

    def around_app(self, app: ASGIApp) -> ASGIApp:
        """The server span of each request; the receive and send spans of each ASGI message
        would be two more spans per request for nothing a reader needs."""
        middleware: ASGIApp = OpenTelemetryMiddleware(
            app,
            excluded_urls=",".join(UNTRACED_PATHS),
            tracer_provider=self.provider,
            exclude_spans=["receive", "send"],
        )
        return middleware

    def around_transport(self, transport: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        traced: httpx.AsyncBaseTransport = AsyncOpenTelemetryTransport(
            transport, tracer_provider=self.provider
        )
        return traced

    @contextmanager
    def database_traced(self) -> Iterator[None]:
        """asyncpg's statements traced while the app runs (the instrumentation patches the
        driver process-wide, so it is undone when the app stops)."""
        instrumentor = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]  # unannotated
        instrumentor.instrument(tracer_provider=self.provider)
        try:
            yield
        finally:
            instrumentor.uninstrument()

    @contextmanager
    def operation_span(self, name: str) -> Iterator[Outcome]:
        """A GraphQL operation, named as the metrics label it (`anonymous`, `other`...)."""
        with self.tracer.start_as_current_span(
            f"graphql {name}", attributes={"graphql.operation.name": name}
        ) as span:
            yield partial(_ended, span, "switchboard.outcome")

    @contextmanager
    def unipile_span(
        self, method: str, endpoint: str, account: str, retry: int
    ) -> Iterator[Outcome]:
        """A UniPile attempt: its status is UniPile's HTTP status, or `timeout`,
        `connection_error`, `cancelled`."""
        with self.tracer.start_as_current_span(
            f"UniPile {method} {endpoint}",
            kind=SpanKind.CLIENT,
            attributes={
                "unipile.endpoint": endpoint,
                "unipile.account_id": account,
                "unipile.retry": retry,
            },
        ) as span:
            yield partial(_ended, span, "unipile.status")

    def shutdown(self) -> None:
        """Exports what is still buffered, then stops."""
        self.provider.shutdown()


def _ended(span: Span, attribute: str, outcome: str, failed: bool) -> None:
    span.set_attribute(attribute, outcome)
    if failed:
        span.set_status(Status(StatusCode.ERROR, outcome))
