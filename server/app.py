"""The Starlette application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from tortoise.connection import get_connection
from tortoise.contrib.starlette import RegisterTortoise

from db.config import tortoise_config
from db.migrate import pending_migrations
from resolvers.context import Services
from schema.schema import build_schema
from server.graphql import GraphQLView
from server.settings import Settings
from server.state import AppState
from unipile import UnipileClient

UPSTREAM_TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=20.0, pool=5.0)
UPSTREAM_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50)


def unipile_endpoint(settings: Settings) -> tuple[str, str]:
    """The UniPile DSN and API key: the configured ones, or the embedded sandbox's."""
    if settings.unipile_dsn is not None and settings.unipile_api_key is not None:
        return settings.unipile_dsn, settings.unipile_api_key
    return f"http://127.0.0.1:{settings.sandbox_port}", settings.local_secret("sandbox")


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "alive"})


async def readyz(request: Request) -> JSONResponse:
    try:
        await get_connection("default").execute_query("SELECT 1")
        pending = await pending_migrations()
    except Exception as error:  # any failure to reach the database means not ready
        return JSONResponse({"status": "unavailable", "error": type(error).__name__}, status_code=503)
    if pending:
        return JSONResponse({"status": "migrations pending", "pending": pending}, status_code=503)
    return JSONResponse({"status": "ready"})


def create_app(settings: Settings) -> Starlette:
    graphql = GraphQLView(build_schema(report_cost=settings.report_cost))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        dsn, api_key = unipile_endpoint(settings)
        async with (
            RegisterTortoise(app, config=tortoise_config(settings.database_url)),
            httpx.AsyncClient(timeout=UPSTREAM_TIMEOUT, limits=UPSTREAM_LIMITS) as http,
        ):
            services = Services(unipile=UnipileClient(http, dsn, api_key))
            app.state.switchboard = AppState(
                settings=settings, services=services, signing_key=settings.signing_key()
            )
            yield

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
