"""Running the API, and the embedded UniPile sandbox beside it when no real UniPile is set."""

from __future__ import annotations

import asyncio
import gc

import uvicorn
from starlette.types import ASGIApp

from server.app import create_app
from server.settings import Settings
from unipile.sandbox import SandboxSettings, create_sandbox_app

GC_THRESHOLDS = (50_000, 20, 20)


def _server(app: ASGIApp, settings: Settings, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=port,
        log_level=settings.log_level.lower(),
        lifespan="on",
        # A compression context per socket costs more memory than a subscriber's traffic saves.
        ws_per_message_deflate=False,
    )
    return uvicorn.Server(config)


def embedded_sandbox(settings: Settings) -> uvicorn.Server:
    sandbox_settings = SandboxSettings(
        api_key=settings.local_secret("sandbox"),
        seed=settings.sandbox_seed,
        generator_interval_s=settings.sandbox_message_interval or None,
    )
    return _server(create_sandbox_app(sandbox_settings), settings, settings.sandbox_port)


def tune_garbage_collection() -> None:
    """Everything imported so far lives as long as the process: keep the collector off it, and
    collect young objects less often, since a request makes many short-lived ones."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def serve_forever(settings: Settings) -> None:
    servers = [_server(create_app(settings), settings, settings.port)]
    if settings.uses_sandbox:
        servers.append(embedded_sandbox(settings))
        print(f"UniPile sandbox: http://{settings.host}:{settings.sandbox_port}/api/v1", flush=True)
    print(f"GraphiQL: http://{settings.host}:{settings.port}/graphql", flush=True)
    tune_garbage_collection()
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    # When one server stops (a signal, a failed start), the others follow.
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for server in servers:
        server.should_exit = True
    await asyncio.gather(*tasks)
