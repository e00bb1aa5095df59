"""The Starlette application factory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

import httpx
from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from tortoise.connection import get_connection
from tortoise.contrib.starlette import RegisterTortoise

from access.authentication import Authenticator
from access.crm_tokens import CrmTokenSetupError
from core.cursors import CursorCodec
from core.errors import RequestTooLarge
from core.request_ids import REQUEST_ID_HEADER
from core.version import SWITCHBOARD_VERSION
from db.config import tortoise_config
from db.migrate import pending_migrations
from db.versions import versions_for
from inbox.live_cache import LiveCache, shared_pages_for
from inbox.loaders import AttendeeCache
from paging import paging_store_for
from realtime.account_status import AccountStatusEvents
from realtime.live_lists import Prefetcher
from realtime.message_events import MessageEvents
from realtime.pubsub import pubsub_for
from realtime.receipts import ReceiptProcessor
from resolvers.context import Services
from schema.extensions import Limits
from schema.schema import build_schema
from server.graphiql import asset_route
from server.graphql import GraphQLView
from server.hosted_auth import HOSTED_AUTH_PATH, hosted_auth_from_settings, hosted_auth_routes
from server.kept_responses import KeptResponses
from server.observability import receipts
from server.observability.db_queries import count_queries_into_metrics
from server.observability.logs import installed_logging
from server.observability.metrics import (
    METRICS_PATH,
    CacheStatsExporter,
    metrics_endpoint,
    process_exited,
)
from server.observability.requests import ObserveRequests
from server.observability.upstream import ObservedTransport
from server.settings import Settings, SettingsError
from server.state import AppState
from server.web import web_routes
from server.webhooks import WEBHOOK_PATH, register_webhooks, webhook_routes
from storing.automatic import AutoStore, KeepInStep
from storing.jobs import StoreWorker
from storing.pruning import RetentionRunner
from storing.sweeps import StorageSweeper
from unipile import UnipileClient, UnipileError, UnipileTransport

if TYPE_CHECKING:
    from server.observability.traces import Tracing

log = logging.getLogger(__name__)

UPSTREAM_TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=20.0, pool=5.0)
UPSTREAM_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50)
REGISTRATION_ATTEMPTS = 20
REGISTRATION_DELAY = 0.5


def unipile_endpoint(settings: Settings) -> tuple[str, str]:
    """The UniPile DSN and API key: the configured ones, or the embedded sandbox's."""
    if settings.unipile_dsn is not None and settings.unipile_api_key is not None:
        return settings.unipile_dsn, settings.unipile_api_key
    return f"http://127.0.0.1:{settings.sandbox_port}", settings.local_secret("sandbox")


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "alive", "version": SWITCHBOARD_VERSION})


async def readyz(request: Request) -> JSONResponse:
    try:
        await get_connection("default").execute_query("SELECT 1")
        pending = await pending_migrations()
    except Exception as error:  # any failure to reach the database means not ready
        return JSONResponse(
            {"status": "unavailable", "error": type(error).__name__}, status_code=503
        )
    if pending:
        return JSONResponse({"status": "migrations pending", "pending": pending}, status_code=503)
    return JSONResponse({"status": "ready"})


async def register_with_sandbox(client: UnipileClient, settings: Settings) -> None:
    """The embedded sandbox starts beside this app: retry until it answers, so that live mode
    works with no extra step."""
    for _ in range(REGISTRATION_ATTEMPTS):
        try:
            await register_webhooks(client, url=settings.public_url, secret=settings.webhook_key())
            return
        except UnipileError:
            await asyncio.sleep(REGISTRATION_DELAY)
    log.warning("could not register the webhooks with the embedded sandbox")


class ListedOriginsCORS(CORSMiddleware):
    """Starlette's CORS, answering only the listed origins: Starlette sends its allow headers
    (methods, headers, credentials) to any origin, short of `Access-Control-Allow-Origin`; an
    unlisted origin gets none of them here."""

    def preflight_response(self, request_headers: Headers) -> Response:
        if self.is_allowed_origin(request_headers["origin"]):
            return super().preflight_response(request_headers)
        return PlainTextResponse(
            "Disallowed CORS origin", status_code=400, headers={"Vary": "Origin"}
        )

    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        origin = request_headers.get("origin")
        if origin is None or self.is_allowed_origin(origin):
            await super().send(message, send, request_headers)
            return
        if message["type"] == "http.response.start":
            MutableHeaders(scope=message).add_vary_header("Origin")
        await send(message)


def cors(origins: tuple[str, ...]) -> Middleware:
    """Pages on `origins` may call the API with credentials, the bearer token, JSON and their
    own request id, and read the id back."""
    return Middleware(
        ListedOriginsCORS,
        allow_origins=origins,
        allow_methods=("GET", "POST", "OPTIONS"),
        allow_headers=("Authorization", "Content-Type", REQUEST_ID_HEADER),
        allow_credentials=True,
        # A page may read the id of its request, to quote it in a bug report.
        expose_headers=(REQUEST_ID_HEADER,),
    )


class _BodyTooLarge(Exception):
    pass


class LimitBodySize:
    """Refuses a request whose body is over its path's limit with 413 `REQUEST_TOO_LARGE`,
    reading none of it past the limit: at once when `Content-Length` says so, otherwise (chunked
    transfer, or a body longer than announced) as soon as the bytes the app has read go past it;
    the app's read fails there and this answers in its place."""

    def __init__(self, app: ASGIApp, *, limit: int, path_limits: Mapping[str, int]) -> None:
        self.app = app
        self.limit = limit
        self.path_limits = path_limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.path_limits.get(scope["path"], self.limit)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await self.refuse(scope, receive, send, limit)
            return
        read = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal read
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > limit:
                    raise _BodyTooLarge
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except _BodyTooLarge:
            if started:
                raise
            await self.refuse(scope, receive, send, limit)

    @staticmethod
    async def refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        problem = RequestTooLarge(f"the request body is over {limit} bytes", maximum=limit)
        body = {"errors": [{"message": str(problem), "extensions": problem.extensions}]}
        # No `Connection: close`: closing with the body still arriving resets the connection,
        # and a client would see that instead of the 413. The server discards the rest of the
        # body itself (uvicorn drops what arrives for a request that was answered).
        response = JSONResponse(body, status_code=413)
        await response(scope, receive, send)


def body_limits(settings: Settings) -> Middleware:
    """`MAX_BODY_BYTES` for every request, `MAX_WEBHOOK_BYTES` for UniPile's webhook and
    hosted-auth calls."""
    return Middleware(
        LimitBodySize,
        limit=settings.max_body_bytes,
        path_limits={
            WEBHOOK_PATH: settings.max_webhook_bytes,
            HOSTED_AUTH_PATH: settings.max_webhook_bytes,
        },
    )


def schema_limits(settings: Settings) -> Limits:
    return Limits(
        max_aliases=settings.max_query_aliases,
        max_tokens=settings.max_query_tokens,
        max_depth=settings.max_query_depth,
        upstream_budget=settings.upstream_budget,
        upstream_deadline_seconds=settings.upstream_deadline_seconds,
    )


def receipt_processor(services: Services, auto_store: AutoStore) -> ReceiptProcessor:
    processor = ReceiptProcessor(services.pubsub)
    events = MessageEvents(
        services.unipile,
        services.attendee_cache,
        services.live_cache,
        on_new_message=[KeepInStep(services.unipile, services.attendee_cache, auto_store)],
    )
    handlers = {
        "account_status": AccountStatusEvents(services.live_cache).apply,
        "message_received": events.chat_message,
        "mail_received": events.email,
        "mail_sent": events.email,
        "message_read": events.chat_read,
        "message_reaction": events.chat_reaction,
    }
    for kind, handler in handlers.items():
        processor.on(kind, receipts.observed(handler))
    return processor


def build_authenticator(settings: Settings) -> Authenticator:
    """The tokens' verifier; a CRM key it cannot use stops the start like a bad setting."""
    try:
        return Authenticator.from_config(settings.signing_key(), settings.crm_tokens)
    except CrmTokenSetupError as error:
        raise SettingsError(error.variable, error.problem) from None


def tracing_for(settings: Settings) -> Tracing | None:
    """Traces to the configured collector, or none."""
    if settings.otlp_endpoint is None:
        return None
    # Imported here, not at the top: with no collector, nothing of tracing is loaded.
    from server.observability.traces import Tracing

    return Tracing.exporting_to(settings.otlp_endpoint)


def create_app(settings: Settings, tracing: Tracing | None = None) -> Starlette:
    """The app; `tracing` replaces the one the settings configure (a test's in-memory
    exporter)."""
    tracing = tracing or tracing_for(settings)
    # Browsers apply no CORS to WebSockets: the same origins are checked at the handshake.
    schema = build_schema(report_cost=settings.report_cost, limits=schema_limits(settings))
    graphql = GraphQLView(schema, allowed_origins=settings.cors_origins)
    dsn, api_key = unipile_endpoint(settings)
    # Built here so that the routes can name the processor; opened and closed by the lifespan.
    http = httpx.AsyncClient(
        timeout=UPSTREAM_TIMEOUT,
        transport=ObservedTransport(UnipileTransport(UPSTREAM_LIMITS), tracing),
    )
    client = UnipileClient(http, dsn, api_key)
    pubsub = pubsub_for(settings.redis_url)
    versions = versions_for(settings.redis_url)
    live_cache = LiveCache(
        client,
        versions,
        shared=shared_pages_for(settings.redis_url),
        ttl=settings.live_cache_seconds,
        entries=settings.live_cache_entries,
    )
    attendee_cache = AttendeeCache()
    prefetcher = Prefetcher(live_cache, attendee_cache, pubsub)
    auto_store = AutoStore(StoreWorker(client))
    sweeper = StorageSweeper(live_cache, attendee_cache, auto_store.worker)
    retention = RetentionRunner(client, attendee_cache)
    paging = paging_store_for(settings.redis_url, settings.paging_ttl_seconds)
    hosted_auth = hosted_auth_from_settings(settings, client, dsn)
    services = Services(
        unipile=client,
        live_cache=live_cache,
        prefetcher=prefetcher,
        attendee_cache=attendee_cache,
        pubsub=pubsub,
        auto_store=auto_store,
        sweeper=sweeper,
        paging=paging,
        cursors=CursorCodec(settings.signing_key()),
        hosted_auth=hosted_auth,
    )
    kept_responses = KeptResponses(
        versions,
        live_cache.holds,
        max_age=min(settings.live_cache_seconds, settings.paging_ttl_seconds),
        max_bytes=settings.kept_response_bytes,
        report_cost=settings.report_cost,
        clock=live_cache.clock,
    )
    processor = receipt_processor(services, auto_store)
    authenticator = build_authenticator(settings)
    count_queries_into_metrics()
    cache_metrics = CacheStatsExporter(live_cache.stats)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            # Here rather than at import: uvicorn configures its loggers as it starts.
            stack.enter_context(installed_logging(settings.log_format))
            if tracing is not None:
                # Shut down last, so that the spans of everything that stops before are sent.
                stack.callback(tracing.shutdown)
                stack.enter_context(tracing.database_traced())
            stack.callback(process_exited)
            await stack.enter_async_context(
                RegisterTortoise(app, config=tortoise_config(settings.database_url))
            )
            cache_sync = asyncio.create_task(cache_metrics.keep_synced())
            stack.callback(cache_sync.cancel)
            stack.push_async_callback(http.aclose)
            stack.push_async_callback(live_cache.aclose)
            stack.push_async_callback(paging.aclose)
            stack.push_async_callback(versions.aclose)
            await pubsub.start()
            stack.push_async_callback(pubsub.aclose)
            await prefetcher.start()
            stack.push_async_callback(prefetcher.aclose)
            await processor.start()
            stack.push_async_callback(processor.aclose)
            await auto_store.start()
            stack.push_async_callback(auto_store.aclose)
            await sweeper.start()
            stack.push_async_callback(sweeper.aclose)
            await retention.start()
            stack.push_async_callback(retention.aclose)
            stack.push_async_callback(authenticator.aclose)
            app.state.switchboard = AppState(
                settings=settings,
                services=services,
                signing_key=settings.signing_key(),
                authenticator=authenticator,
                tracing=tracing,
                kept_responses=kept_responses,
            )
            if settings.uses_sandbox:
                registration = asyncio.create_task(register_with_sandbox(client, settings))
                stack.callback(registration.cancel)
            yield

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route(METRICS_PATH, metrics_endpoint(settings.metrics_token, cache_metrics)),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        asset_route(),
        *webhook_routes(secret=settings.webhook_key(), processor=processor),
        *hosted_auth_routes(hosted_auth, pubsub, live_cache),
        # The reference frontend at / (and its client paths), its files under /assets.
        *web_routes(),
    ]
    # Inside CORS, so that a refused body's 413 still tells a browser page why; every answer,
    # CORS refusals included, under a request id, and in a trace when tracing.
    middleware = [
        *([] if tracing is None else [Middleware(tracing.around_app)]),
        Middleware(ObserveRequests),
        cors(settings.cors_origins),
        body_limits(settings),
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
