"""Running the API, and the embedded UniPile sandbox beside it when no real UniPile is set."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from server.app import create_app
from server.observability.logs import configure_logging
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


def _config(settings: Settings, port: int) -> dict[str, Any]:
    """uvicorn's settings for one app, in one process or in several."""
    return {
        "host": settings.host,
        "port": port,
        "log_level": settings.log_level.lower(),
        "lifespan": "on",
        # A compression context per socket costs more memory than a subscriber's traffic saves.
        "ws_per_message_deflate": False,
    }


def _server(app: ASGIApp, settings: Settings, port: int) -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(app, **_config(settings, port)))


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
    print(f"Inbox app: http://{settings.host}:{settings.port}/", flush=True)
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


def workers_problem(settings: Settings) -> str | None:
    """Why `settings` cannot serve from several processes, if they cannot: each would start an
    embedded sandbox on the same port, and without Redis an event published in one process
    never reaches a subscriber of another."""
    if settings.uses_sandbox:
        return "--workers needs UNIPILE_DSN and UNIPILE_API_KEY (no embedded sandbox per worker)"
    if settings.redis_url is None:
        return "--workers needs REDIS_URL: the workers share events and the job queue through it"
    return None


def run_workers(settings: Settings, workers: int) -> None:
    """`workers` processes accepting on one socket, each building its app from the environment
    (`worker_app`); uvicorn's supervisor restarts one that dies."""
    # Generated secrets, when unset, are created here once rather than raced for by the workers.
    settings.signing_key()
    settings.webhook_key()
    print(
        f"GraphiQL: http://{settings.host}:{settings.port}/graphql ({workers} workers)", flush=True
    )
    uvicorn.run(
        "server.serve:worker_app", factory=True, workers=workers, **_config(settings, settings.port)
    )


def worker_app() -> ASGIApp:
    """One worker's app: a new process, which reads the settings and sets up logging itself."""
    settings = Settings.from_environ(os.environ)
    configure_logging(settings.log_level)
    app = create_app(settings)
    tune_garbage_collection()
    return app
