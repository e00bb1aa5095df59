"""The HTTP transport of UniPile calls: each request carries the current request id, so that a
call can be traced from Switchboard's log line to UniPile's, and each attempt is counted and
timed by endpoint (the path's template, never its ids), status and account.

The UniPile client names each attempt's account and retry number in the request's extensions
(`ATTEMPT_EXTENSION`); the transport reads them, so the client knows nothing of metrics."""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import httpx

from core.request_ids import REQUEST_ID_HEADER, current_request_id
from server.observability import metrics
from server.observability.spans import Outcome, untraced
from unipile._client import ATTEMPT_EXTENSION, Attempt

if TYPE_CHECKING:
    from server.observability.traces import Tracing

API_PREFIX = "/api/v1/"
NO_ACCOUNT = "none"
OTHER = "other"
COLLECTIONS = frozenset(
    {"accounts", "chats", "messages", "emails", "webhooks", "chat_attendees", "folders", "users"}
)
SUB_RESOURCES = frozenset({"messages", "attendees"})
HOSTED_AUTH = "/hosted/accounts/link"


def endpoint_template(raw_path: bytes) -> str:
    """`/chats/{id}/messages` for `/api/v1/chats/abc%2Fdef/messages?limit=5`: ids (still
    percent-encoded, so one segment each) become `{id}`, anything unknown `other`."""
    path = raw_path.split(b"?", 1)[0].decode("ascii", "replace")
    start = path.find(API_PREFIX)
    if start < 0:
        return OTHER
    segments = path[start + len(API_PREFIX) :].split("/")
    if "/" + "/".join(segments) == HOSTED_AUTH:
        return HOSTED_AUTH
    if segments[0] not in COLLECTIONS:
        return OTHER
    template = [segments[0], *(["{id}"] if len(segments) > 1 else [])]
    template += [s if s in SUB_RESOURCES else OTHER for s in segments[2:]]
    return "/" + "/".join(template)


class ObservedTransport(httpx.AsyncBaseTransport):
    """Counts and times each attempt, and traces it when tracing (the inner transport is then
    the httpx instrumentation's, whose client span goes under this one)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, tracing: Tracing | None = None) -> None:
        self._inner = inner if tracing is None else tracing.around_transport(inner)
        self._tracing = tracing

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request_id = current_request_id()
        if request_id is not None:
            request.headers[REQUEST_ID_HEADER] = request_id
        attempt = request.extensions.get(ATTEMPT_EXTENSION)
        if not isinstance(attempt, Attempt):
            attempt = Attempt(None, 0)
        account = attempt.account_id or NO_ACCOUNT
        endpoint = endpoint_template(request.url.raw_path)
        if attempt.retry > 0:
            metrics.UNIPILE_RETRIES.labels(endpoint, account).inc()
        span: AbstractContextManager[Outcome] = (
            untraced()
            if self._tracing is None
            else self._tracing.unipile_span(request.method, endpoint, account, attempt.retry)
        )
        status = "error"
        started = time.perf_counter()
        with span as traced:
            try:
                response = await self._inner.handle_async_request(request)
                status = str(response.status_code)
                return response
            except httpx.TimeoutException:
                status = "timeout"
                raise
            except httpx.TransportError:
                status = "connection_error"
                raise
            except asyncio.CancelledError:
                # Cut off at the operation's deadline, or the caller went away.
                status = "cancelled"
                raise
            finally:
                metrics.UNIPILE_REQUESTS.labels(endpoint, request.method, status, account).inc()
                metrics.UNIPILE_LATENCY.labels(endpoint, request.method).observe(
                    time.perf_counter() - started
                )
                traced(status, not status.startswith("2"))

    async def aclose(self) -> None:
        await self._inner.aclose()
