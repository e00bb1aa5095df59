"""Running the API, and the embedded UniPile sandbox beside it when no real UniPile is set."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable

import uvicorn
from starlette.types import ASGIApp

from server.app import create_app
from server.settings import Settings
from unipile.sandbox import SandboxSettings, create_sandbox_app

GC_THRESHOLDS = (50_000, 20, 20)
LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def event_loop_factory() -> LoopFactory | None:
    """uvloop's loop when it is installed (it does the same work in less CPU), else None: the
    standard library's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_forever(settings: Settings) -> None:
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(serve_forever(settings))


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


def describe_serving(server: uvicorn.Server) -> str:
    """The event loop and HTTP parser serving, for the start-up line: which ones were installed
    decides a large share of the CPU a request costs."""
    loop = type(asyncio.get_running_loop())
    http = server.config.http_protocol_class
    return f"Event loop: {_qualified(loop)}; HTTP: {_qualified(http)}"


def _qualified(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


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
    # Loaded here rather than in `serve()` (which skips a loaded config) to name its HTTP parser.
    servers[0].config.load()
    print(describe_serving(servers[0]), flush=True)
    tune_garbage_collection()
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    # When one server stops (a signal, a failed start), the others follow.
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for server in servers:
        server.should_exit = True
    await asyncio.gather(*tasks)
