"""Run an ASGI app (the sandbox, or a webhook receiver) on a free local port for tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

from unipile.sandbox.app import create_sandbox_app
from unipile.sandbox.settings import SandboxSettings

__all__ = ["running_app", "running_sandbox"]


@contextmanager
def running_app(app: ASGIApp) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 in a background thread; yields its base URL."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            while not server.started:
                if not thread.is_alive():
                    raise RuntimeError("the server failed to start")
                threading.Event().wait(0.01)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join()


@contextmanager
def running_sandbox(settings: SandboxSettings | None = None) -> Iterator[str]:
    """Serve a fresh sandbox (default settings unless given); yields its base URL (the DSN)."""
    with running_app(create_sandbox_app(settings or SandboxSettings())) as url:
        yield url
