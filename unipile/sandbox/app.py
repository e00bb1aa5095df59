"""The sandbox application: a local stand-in for UniPile's REST API v1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from unipile.sandbox import _admin, _api, _hosted
from unipile.sandbox._faults import FaultMiddleware
from unipile.sandbox._problems import ApiError
from unipile.sandbox._runtime import Sandbox
from unipile.sandbox._shapes import problem
from unipile.sandbox._webhooks import Deliverer
from unipile.sandbox.settings import SandboxSettings

__all__ = ["create_sandbox_app", "run_sandbox"]


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    type_ = "resource_not_found" if exc.status_code == 404 else "invalid_request"
    return JSONResponse(problem(exc.status_code, type_, exc.detail), status_code=exc.status_code)


def create_sandbox_app(settings: SandboxSettings) -> Starlette:
    box = Sandbox(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        timeout = httpx.Timeout(settings.webhook_timeout_s)
        async with httpx.AsyncClient(timeout=timeout) as http:
            box.deliverer = Deliverer(http, settings.webhook_retry_delays)
            generator = (
                asyncio.create_task(box.generate(settings.generator_interval_s))
                if settings.generator_interval_s
                else None
            )
            try:
                yield
            finally:
                if generator is not None:
                    generator.cancel()
                    await asyncio.gather(generator, return_exceptions=True)
                await box.deliverer.aclose()
                box.deliverer = None

    routes = [*_api.ROUTES, *_hosted.ROUTES, *_admin.ROUTES]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                FaultMiddleware,
                faults=box.faults,
                stats=box.stats,
                api_key=settings.api_key,
                rng=box.fault_rng,
                routes=routes,
            )
        ],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.sandbox = box
    return app


def run_sandbox(settings: SandboxSettings, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve the sandbox until interrupted (``switchboard sandbox --port N --api-key KEY``)."""
    uvicorn.run(create_sandbox_app(settings), host=host, port=port)
