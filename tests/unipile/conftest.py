"""Fixtures: a real sandbox over HTTP (uvicorn in a thread) and clients talking to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.unipile.unipile_testkit import API_KEY, ClientFactory, Receiver, running_receiver
from unipile import UnipileClient
from unipile.sandbox import SandboxSettings
from unipile.sandbox.testing import running_sandbox


@pytest.fixture
def sandbox_settings() -> SandboxSettings:
    """Override in a test module (or parametrize) to start the sandbox with other knobs."""
    return SandboxSettings(api_key=API_KEY, webhook_retry_delays=(0.05, 0.1, 0.1, 0.1, 0.1))


@pytest.fixture
def sandbox_url(sandbox_settings: SandboxSettings) -> Iterator[str]:
    with running_sandbox(sandbox_settings) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def make_client(http: httpx.AsyncClient, sandbox_url: str) -> ClientFactory:
    """A client on the sandbox; keyword arguments override the fast test defaults."""

    def make(**options: Any) -> UnipileClient:
        settings: dict[str, Any] = {"backoff_base": 0.01, "backoff_max": 0.5}
        settings.update(options)
        dsn = settings.pop("dsn", sandbox_url)
        api_key = settings.pop("api_key", API_KEY)
        return UnipileClient(http, dsn, api_key, **settings)

    return make


@pytest.fixture
def client(make_client: ClientFactory) -> UnipileClient:
    return make_client()


@pytest.fixture
async def admin(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """Plain HTTP to the sandbox, for its /_sandbox endpoints."""
    async with httpx.AsyncClient(base_url=sandbox_url) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook (or callback) endpoint over real HTTP, recording what it is sent."""
    with running_receiver() as receiver:
        yield receiver
