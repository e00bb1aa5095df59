"""The server's Prometheus metrics, and `/metrics`, which serves them.

Families are module-level prometheus_client objects, defined where what they count happens:
here for what the transport sees (GraphQL operations, UniPile calls, database queries, the live
cache), in `realtime/` for webhook receipts and subscribers. With `PROMETHEUS_MULTIPROC_DIR`
set (before the process starts, to an empty folder shared by the workers), every worker writes
its values there and any worker's `/metrics` answers for all of them.

Labels are bounded: operation names by `operations.OperationNames`, UniPile endpoints by their
path template, accounts by UniPile's id (one per connected account), outcomes by error codes.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import platform
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from tortoise.expressions import Q
from tortoise.functions import Count, Min

from core.version import SWITCHBOARD_VERSION
from core.vocabulary import JobState, ReceiptState
from db.models import StoreJob, WebhookReceipt
from inbox.live_cache import CacheStats

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
METRICS_PATH = "/metrics"
# Seconds: from a cached page (about a millisecond) to the upstream deadline (8 s) and past it.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 8.0, 15.0, 30.0)
QUERY_COUNT_BUCKETS = (0, 1, 2, 3, 5, 10, 25, 50, 100)
CACHE_SYNC_SECONDS = 5.0

BUILD_INFO = Gauge(
    "switchboard_build_info",
    "The running version (1 for each version running).",
    ["version", "python"],
    multiprocess_mode="max",
)
BUILD_INFO.labels(SWITCHBOARD_VERSION, platform.python_version()).set(1)

GRAPHQL_OPERATIONS = Counter(
    "switchboard_graphql_operations_total",
    "GraphQL operations by name and outcome (`ok` or the first error's code).",
    ["operation", "outcome"],
)
GRAPHQL_LATENCY = Histogram(
    "switchboard_graphql_operation_duration_seconds",
    "Time to execute a GraphQL query or mutation, by name.",
    ["operation"],
    buckets=LATENCY_BUCKETS,
)
GRAPHQL_DB_QUERIES = Histogram(
    "switchboard_graphql_operation_db_queries",
    "Database queries one GraphQL query or mutation made, by name.",
    ["operation"],
    buckets=QUERY_COUNT_BUCKETS,
)
DB_QUERIES = Counter(
    "switchboard_db_queries_total",
    "Database statements sent, by the GraphQL operation that sent them (`none`: background work "
    "such as webhooks and jobs).",
    ["operation"],
)
UNIPILE_REQUESTS = Counter(
    "switchboard_unipile_requests_total",
    "HTTP attempts to UniPile, retries included, by endpoint (path template), method, status "
    "(HTTP status, `timeout`, `connection_error`, `cancelled` or `error`) and UniPile account id.",
    ["endpoint", "method", "status", "account"],
)
UNIPILE_LATENCY = Histogram(
    "switchboard_unipile_request_duration_seconds",
    "Time of one HTTP attempt to UniPile, by endpoint and method.",
    ["endpoint", "method"],
    buckets=LATENCY_BUCKETS,
)
UNIPILE_RETRIES = Counter(
    "switchboard_unipile_retries_total",
    "HTTP attempts to UniPile that were retries of a failed one, by endpoint and account.",
    ["endpoint", "account"],
)
LIVE_CACHE = Counter(
    "switchboard_live_cache_events_total",
    "What the live cache of UniPile pages did: `hit`, `shared_hit` (a page another process "
    "read, from Redis), `miss`, `shared` (a reader joining a read under way), `stale` (a last "
    "good page served while UniPile fails) and `invalidation`.",
    ["event"],
)
KEPT_ANSWERS = Counter(
    "switchboard_kept_answers_total",
    "What the kept GraphQL answers did: `hit` (an answer given again without executing), `miss` "
    "(executed), `kept` (an answer kept to give again) and `outdated` (a kept answer found but "
    "made of something that changed since).",
    ["event"],
)
WEBHOOK_PROCESSING = Counter(
    "switchboard_webhook_processing_total",
    "Attempts to process a webhook receipt, by event kind and outcome (`processed`, `failed`).",
    ["event", "outcome"],
)
WEBHOOK_LAG = Histogram(
    "switchboard_webhook_processing_lag_seconds",
    "From a webhook's receipt to the end of its processing, by event kind.",
    ["event"],
    buckets=LATENCY_BUCKETS,
)
STORE_JOBS_PENDING = Gauge(
    "switchboard_store_jobs_pending",
    "Automatic-storage jobs waiting to run (pending, or failed with a retry due).",
    multiprocess_mode="mostrecent",
)
STORE_JOBS_OLDEST = Gauge(
    "switchboard_store_jobs_oldest_age_seconds",
    "Age of the oldest waiting automatic-storage job (0 when none waits).",
    multiprocess_mode="mostrecent",
)
RECEIPTS_PENDING = Gauge(
    "switchboard_webhook_receipts_pending",
    "Webhook receipts waiting to be processed (pending, or failed with a retry due).",
    multiprocess_mode="mostrecent",
)
RECEIPTS_OLDEST = Gauge(
    "switchboard_webhook_receipts_oldest_age_seconds",
    "Age of the oldest waiting webhook receipt (0 when none waits).",
    multiprocess_mode="mostrecent",
)

_CACHE_EVENTS = {
    "hit": "hits",
    "shared_hit": "shared_hits",
    "miss": "misses",
    "shared": "shared",
    "stale": "stale",
    "invalidation": "invalidations",
}


class CacheStatsExporter:
    """Adds what a live cache counted since the last sync to `LIVE_CACHE`: the cache keeps plain
    counts, which a multi-process registry could not read from another worker."""

    def __init__(self, stats: CacheStats) -> None:
        self._stats = stats
        self._exported = dict.fromkeys(_CACHE_EVENTS, 0)

    async def keep_synced(self, interval: float = CACHE_SYNC_SECONDS) -> None:
        """Sync every `interval` seconds, until cancelled: another worker may answer scrapes."""
        while True:
            await asyncio.sleep(interval)
            self.sync()

    def sync(self) -> None:
        for event, attribute in _CACHE_EVENTS.items():
            value = getattr(self._stats, attribute)
            if value > self._exported[event]:
                LIVE_CACHE.labels(event).inc(value - self._exported[event])
                self._exported[event] = value


def registry() -> CollectorRegistry:
    """Every worker's values when `PROMETHEUS_MULTIPROC_DIR` is set, this process's otherwise."""
    if not os.environ.get(MULTIPROCESS_DIR):
        return REGISTRY
    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
    return collected


def process_exited() -> None:
    """Drop this process's live gauges from the shared folder, as it stops."""
    if os.environ.get(MULTIPROCESS_DIR):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


async def measure_queues() -> None:
    """The job queue's and the receipts' backlog, read from the database at scrape time: the rows
    are shared by every process, so whichever answers sees them all."""
    now = datetime.now(UTC)
    waiting_jobs = Q(state=JobState.PENDING) | Q(
        state=JobState.FAILED, next_attempt_at__isnull=False
    )
    jobs = await _backlog(StoreJob.filter(waiting_jobs, forgotten_at__isnull=True), "enqueued_at")
    STORE_JOBS_PENDING.set(jobs[0])
    STORE_JOBS_OLDEST.set(seconds_since(jobs[1], now))
    waiting_receipts = Q(state=ReceiptState.PENDING) | Q(
        state=ReceiptState.FAILED, next_attempt_at__isnull=False
    )
    receipts = await _backlog(WebhookReceipt.filter(waiting_receipts), "received_at")
    RECEIPTS_PENDING.set(receipts[0])
    RECEIPTS_OLDEST.set(seconds_since(receipts[1], now))


async def _backlog(rows: Any, since: str) -> tuple[int, datetime | None]:
    values = await rows.annotate(count=Count("id"), oldest=Min(since)).values("count", "oldest")
    if not values:
        return 0, None
    oldest = values[0]["oldest"]
    if isinstance(oldest, str):  # SQLite's MIN() of a datetime column is its text
        oldest = datetime.fromisoformat(oldest)
    return int(values[0]["count"] or 0), oldest if isinstance(oldest, datetime) else None


def seconds_since(moment: datetime | None, now: datetime) -> float:
    """How long before `now` `moment` was (a naive one is UTC, as SQLite gives it); 0 for None."""
    if moment is None:
        return 0.0
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return max(0.0, (now - aware).total_seconds())


Endpoint = Callable[[Request], Awaitable[Response]]


def metrics_endpoint(token: str | None, cache: CacheStatsExporter) -> Endpoint:
    """`/metrics` in Prometheus's text format; with `token`, only for `Authorization: Bearer
    <token>` (401 otherwise)."""
    expected = f"Bearer {token}".encode() if token is not None else None

    async def metrics(request: Request) -> Response:
        if expected is not None:
            offered = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(offered, expected):
                return PlainTextResponse(
                    "a bearer token is required", 401, {"WWW-Authenticate": "Bearer"}
                )
        cache.sync()
        await measure_queues()
        return Response(generate_latest(registry()), media_type=CONTENT_TYPE_LATEST)

    return metrics
