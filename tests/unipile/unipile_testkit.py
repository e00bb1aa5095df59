"""Constants and helpers shared by the unipile tests (a unique module name, unlike conftest)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from unipile import Page, UnipileClient

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
