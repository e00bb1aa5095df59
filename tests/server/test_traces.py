"""Traces from the outside: a served app over the sandbox, its spans caught by an in-memory
exporter (the trace of one inbox request) and by a real OTLP/HTTP receiver (what a collector
gets), and a process started without a collector that loads nothing of tracing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.app import create_app
from server.observability.traces import Tracing
from tests.inbox.conftest import SANDBOX_KEY, inbox_settings, issue_demo_tokens
from unipile.sandbox import SandboxSettings
from unipile.sandbox.testing import running_app, running_sandbox

INBOX = "query Inbox { conversations(first: 10) { edges { node { id externalId isGroup } } } }"
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@dataclass(frozen=True)
class Traced:
    url: str
    sandbox: str
    token: str
    exporter: InMemorySpanExporter
    postgres: bool

    async def query(
        self,
        query: str,
        variables: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            response = await client.post(
                "/graphql",
                # As urql and Apollo do: the operation's name beside its document.
                json={
                    "query": query,
                    "operationName": query.split()[1].split("(")[0],
                    "variables": variables or {},
                },
                headers={"Authorization": f"Bearer {self.token}", **(headers or {})},
            )
        assert response.status_code == 200, response.text
        result: dict = response.json()
        return result

    async def request_spans(self) -> list[ReadableSpan]:
        """The spans of the trace of the request made last, once its server span has ended
        (after the response's last byte). The app's background work makes traces of its own,
        which are not the request's."""
        for _ in range(100):
            spans = list(self.exporter.get_finished_spans())
            servers = [span for span in spans if span.kind is SpanKind.SERVER]
            if servers:
                self.exporter.clear()
                [server] = servers
                assert server.context is not None
                trace = server.context.trace_id
                others = [s for s in spans if s.context is not None and s.context.trace_id != trace]
                # Only the database statements of background work (the job queue's polls, the
                # automatic storage the read queued) are in traces of their own.
                assert [s.name for s in others if "db.system" not in (s.attributes or {})] == []
                return [span for span in spans if span not in others]
            await asyncio.sleep(0.05)
        raise AssertionError("the request's server span never ended")


@pytest.fixture
async def traced(database: str, tmp_path: Path) -> AsyncIterator[Traced]:
    tokens = await issue_demo_tokens()
    exporter = InMemorySpanExporter()
    tracing = Tracing.with_processor(SimpleSpanProcessor(exporter))
    with running_sandbox(SandboxSettings(api_key=SANDBOX_KEY)) as sandbox:
        settings = inbox_settings(database, tmp_path, sandbox)
        with running_app(create_app(settings, tracing)) as url:
            # What the lifespan traced (its webhook registration) is not the request's.
            exporter.clear()
            yield Traced(url, sandbox, tokens["alice"], exporter, database.startswith("postgres"))


def children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def only(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    named = [span for span in spans if span.name == name]
    assert len(named) == 1, [span.name for span in spans]
    return named[0]


async def test_an_inbox_request_is_one_trace_with_its_unipile_calls_as_child_spans(
    traced: Traced,
) -> None:
    result = await traced.query(INBOX)
    assert result["data"]["conversations"]["edges"]
    spans = await traced.request_spans()

    roots = [span for span in spans if span.parent is None]
    assert [(root.kind, root.name) for root in roots] == [(SpanKind.SERVER, "POST /graphql")]
    operation = only(children(spans, roots[0]), "graphql Inbox")
    assert operation.attributes is not None
    assert operation.attributes["switchboard.outcome"] == "ok"

    calls = [span for span in children(spans, operation) if span.name.startswith("UniPile ")]
    # alice's three accounts: the Gmail mailbox's emails, the other two's chats.
    endpoints = {(s.attributes or {}).get("unipile.endpoint") for s in calls}
    assert {"/emails", "/chats"} <= endpoints
    accounts = {(s.attributes or {}).get("unipile.account_id") for s in calls}
    assert "acc_gmail_demo_000001" in accounts
    for call in calls:
        assert call.kind is SpanKind.CLIENT
        assert call.status.status_code is not StatusCode.ERROR
        assert (call.attributes or {})["unipile.status"] == "200"
        # The httpx instrumentation's span of the same request, under the UniPile call.
        [http] = children(spans, call)
        assert http.kind is SpanKind.CLIENT
        assert (http.attributes or {}).get("http.response.status_code", 200) == 200

    statements = [span for span in spans if (span.attributes or {}).get("db.system")]
    if traced.postgres:
        # The viewer's scope read at least: asyncpg's spans, in the request's trace.
        assert statements
        assert all(s.parent is not None for s in statements)
    else:
        assert statements == []


async def test_the_trace_continues_the_callers_traceparent(traced: Traced) -> None:
    parent = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
    await traced.query(INBOX, headers={"traceparent": parent})
    spans = await traced.request_spans()
    root = next(span for span in spans if span.kind is SpanKind.SERVER)
    assert root.context is not None and root.parent is not None
    assert format(root.context.trace_id, "032x") == CALLER_TRACE
    assert format(root.parent.span_id, "016x") == CALLER_SPAN


async def test_a_failed_operation_and_its_failed_unipile_attempts_are_marked(
    traced: Traced,
) -> None:
    async with httpx.AsyncClient(base_url=traced.sandbox) as sandbox:
        await sandbox.post("/_sandbox/faults", json={"error_rate": 1.0})
    result = await traced.query(INBOX)
    assert {error["extensions"]["code"] for error in result["errors"]} == {"UPSTREAM_UNAVAILABLE"}
    spans = await traced.request_spans()
    operation = only(spans, "graphql Inbox")
    assert operation.status.status_code is StatusCode.ERROR
    assert (operation.attributes or {})["switchboard.outcome"] == "UPSTREAM_UNAVAILABLE"
    attempts = [s for s in children(spans, operation) if s.name.startswith("UniPile ")]
    assert attempts
    assert all(s.status.status_code is StatusCode.ERROR for s in attempts)
    assert {(s.attributes or {})["unipile.status"] for s in attempts} == {"503"}
    # Each retry is an attempt span of its own, numbered.
    assert max((s.attributes or {})["unipile.retry"] for s in attempts) >= 1


async def test_probes_and_scrapes_are_not_traced(traced: Traced) -> None:
    async with httpx.AsyncClient(base_url=traced.url) as client:
        for path in ("/healthz", "/readyz", "/metrics"):
            assert (await client.get(path)).status_code == 200
    await traced.query(INBOX)
    spans = await traced.request_spans()
    assert [s.name for s in spans if s.kind is SpanKind.SERVER] == ["POST /graphql"]


@dataclass
class Collector:
    """An OTLP/HTTP receiver: the protobuf bodies posted to its `/v1/traces`."""

    received: list[ExportTraceServiceRequest]

    async def traces(self, request: Request) -> Response:
        assert request.headers["content-type"] == "application/x-protobuf"
        export = ExportTraceServiceRequest()
        export.ParseFromString(await request.body())
        self.received.append(export)
        return Response(b"", media_type="application/x-protobuf")

    def span_names(self) -> dict[str, str]:
        """Each received span's name, with its resource's `service.name`."""
        names = {}
        for export in self.received:
            for resource_spans in export.resource_spans:
                service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}[
                    "service.name"
                ]
                for scope_spans in resource_spans.scope_spans:
                    names.update({span.name: service for span in scope_spans.spans})
        return names


@pytest.fixture
def collector() -> Iterator[tuple[Collector, str]]:
    received = Collector([])
    app = Starlette(routes=[Route("/v1/traces", received.traces, methods=["POST"])])
    with running_app(app) as url:
        yield received, url


async def test_a_configured_collector_receives_the_requests_spans(
    sqlite_database: str, tmp_path: Path, collector: tuple[Collector, str]
) -> None:
    received, collector_url = collector
    tokens = await issue_demo_tokens()
    with running_sandbox(SandboxSettings(api_key=SANDBOX_KEY)) as sandbox:
        extra = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector_url}
        settings = inbox_settings(sqlite_database, tmp_path, sandbox, extra)
        with running_app(create_app(settings)) as url:
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                response = await client.post(
                    "/graphql",
                    json={"query": INBOX, "operationName": "Inbox"},
                    headers={"Authorization": f"Bearer {tokens['alice']}"},
                )
            assert response.status_code == 200
    # The app's shutdown sent what its batch still held.
    names = received.span_names()
    assert names["POST /graphql"] == "switchboard"
    assert names["graphql Inbox"] == "switchboard"
    assert "UniPile GET /emails" in names


def test_without_a_collector_nothing_of_tracing_is_loaded(tmp_path: Path) -> None:
    """redis-py imports OpenTelemetry's metrics SDK when it is installed (for metrics of its own,
    off unless an app turns them on); the tracing SDK, exporter and instrumentations are not
    loaded, and no request pays for them."""
    program = (
        "import sys\n"
        "from server.app import create_app\n"
        "from server.settings import Settings\n"
        f"create_app(Settings.from_environ({{'DATA_DIR': {str(tmp_path)!r}}}, env_file=None))\n"
        "tracing = ('server.observability.traces', 'opentelemetry.sdk.trace',\n"
        "           'opentelemetry.instrumentation', 'opentelemetry.exporter')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(tracing))\n"
        "assert not loaded, loaded\n"
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", program], env=environ, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
