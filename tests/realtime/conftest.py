"""Fixtures for the real-time tests: Redis, and a webhook receiver served over real HTTP."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager

import pytest
from starlette.applications import Starlette
from tortoise.contrib.starlette import RegisterTortoise

from db.config import tortoise_config
from db.models import WebhookReceipt
from realtime.pubsub import InProcessPubSub, PubSub
from realtime.receipts import Publication, ReceiptProcessor
from server.webhooks import webhook_routes
from tests.inbox.conftest import demo_tokens, inbox, sandbox_url  # noqa: F401 (end-to-end tests)
from unipile.sandbox.testing import running_app

SECRET = "webhook-secret-0123456789-abcdefghijkl"


class HandledLog:
    """Receipt ids seen by a handler, appended from the server's thread and read from the test's."""

    def __init__(self) -> None:
        self._ids: list[int] = []
        self._lock = threading.Lock()

    async def handler(self, receipt: WebhookReceipt) -> Sequence[Publication]:
        with self._lock:
            self._ids.append(receipt.id)
        return []

    @property
    def ids(self) -> list[int]:
        with self._lock:
            return list(self._ids)


def receiver_app(
    database_url: str, processor: ReceiptProcessor, pubsub: PubSub, *, secondary: bool = False
) -> Starlette:
    """The webhook route with the lifespan the real app gives it.

    A `secondary` app shares the test process with another one (standing for a second server
    process), so it must not claim Tortoise's process-wide fallback context as well.
    """
    config = tortoise_config(database_url)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with RegisterTortoise(app, config=config, _enable_global_fallback=not secondary):
            await pubsub.start()
            await processor.start()
            try:
                yield
            finally:
                await processor.aclose()
                await pubsub.aclose()

    return Starlette(routes=webhook_routes(secret=SECRET, processor=processor), lifespan=lifespan)


@contextmanager
def running_receiver(
    database_url: str, log: HandledLog, *, secondary: bool = False
) -> Iterator[str]:
    """A receiver whose processor handles `message_received` with `log`."""
    pubsub = InProcessPubSub()
    processor = ReceiptProcessor(pubsub, poll_interval=0.2)
    processor.on("message_received", log.handler)
    with running_app(receiver_app(database_url, processor, pubsub, secondary=secondary)) as url:
        yield url


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    """Wait until `check()` holds; fail after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"{check.__name__} still false after {within} s")
        await asyncio.sleep(0.02)
