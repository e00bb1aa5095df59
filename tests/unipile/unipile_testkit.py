"""Constants and helpers shared by the unipile tests (a unique module name, unlike conftest)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from unipile import Page, UnipileClient
from unipile.sandbox.testing import running_app

T = TypeVar("T")

ClientFactory = Callable[..., UnipileClient]

API_KEY = "test-key"
GMAIL, OUTLOOK = "acc_gmail_demo_000001", "acc_outlook_demo_00001"
WHATSAPP, LINKEDIN = "acc_whatsapp_demo_0001", "acc_linkedin_demo_0001"


async def collect(fetch: Callable[[str | None], Awaitable[Page[T]]]) -> list[T]:
    """Follow cursors to the end; ``fetch(cursor)`` gets one page."""
    items: list[T] = []
    cursor: str | None = None
    while True:
        page = await fetch(cursor)
        items.extend(page.items)
        if page.cursor is None:
            return items
        cursor = page.cursor


@dataclass
class Receiver:
    """A tiny webhook endpoint that fails its first ``failures`` calls."""

    url: str = ""
    failures: int = 0
    calls: list[tuple[dict[str, str], Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def endpoint(self, request: Request) -> Response:
        with self.lock:
            self.calls.append((dict(request.headers), json.loads(await request.body())))
            failing = len(self.calls) <= self.failures
        return Response(status_code=500 if failing else 200)

    async def wait_for(self, count: int) -> list[tuple[dict[str, str], Any]]:
        for _ in range(200):
            with self.lock:
                if len(self.calls) >= count:
                    return list(self.calls)
            await asyncio.sleep(0.02)
        raise AssertionError(f"expected {count} webhook calls, got {len(self.calls)}")


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    """A ``Receiver`` served over HTTP; its ``url`` is set."""
    receiver = Receiver()
    app = Starlette(routes=[Route("/hook", receiver.endpoint, methods=["POST"])])
    with running_app(app) as url:
        receiver.url = f"{url}/hook"
        yield receiver
