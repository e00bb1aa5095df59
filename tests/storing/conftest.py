"""A sandbox over HTTP, a client of it, and the demo workspace loaded in the test database; and
the inbox's running server, for the tests of storing through GraphQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from db.models import Account
from server.demo import load_demo
from tests.inbox.conftest import demo_tokens, inbox, sandbox_url
from unipile import UnipileClient
from unipile.sandbox import SandboxSettings, build_demo
from unipile.sandbox.demo import ANCHOR, GMAIL_ID, WHATSAPP_ID
from unipile.sandbox.testing import running_sandbox

__all__ = ["demo_tokens", "inbox", "sandbox_url"]

API_KEY = "storing-test-key"
SEED = 7
WINDOW = timedelta(days=30)  # the default sync limits' days_back, on every channel


@dataclass(frozen=True)
class Sandbox:
    url: str

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            response = await http.post(path, json=body)
        assert response.is_success, response.text
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with running_sandbox(SandboxSettings(api_key=API_KEY, seed=SEED)) as url:
        yield Sandbox(url)


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[UnipileClient]:
    async with httpx.AsyncClient() as http:
        yield UnipileClient(http, sandbox.url, API_KEY, backoff_max=0.1)


@pytest.fixture
async def demo(database: str) -> None:
    await load_demo(SEED)


@pytest.fixture
async def whatsapp(demo: None) -> Account:
    return await Account.get(unipile_id=WHATSAPP_ID)


@pytest.fixture
async def gmail(demo: None) -> Account:
    return await Account.get(unipile_id=GMAIL_ID)


def _in_window(moment: str) -> bool:
    return moment >= (ANCHOR - WINDOW).isoformat().replace("+00:00", "")


def demo_chat(*, group: bool, min_messages: int = 3) -> str:
    """A demo WhatsApp chat with at least `min_messages` messages, all within the window."""
    demo = build_demo(SEED)
    for chat in demo.chats:
        if chat["account_id"] != WHATSAPP_ID or bool(chat["type"]) != group:
            continue
        stamps = [m["timestamp"] for m in demo.messages if m["chat_id"] == chat["id"]]
        if len(stamps) >= min_messages and all(map(_in_window, stamps)):
            return str(chat["id"])
    raise LookupError("no such demo chat")


def demo_thread(*, min_emails: int = 3) -> str:
    """A demo Gmail thread with at least `min_emails` emails, all within the window."""
    demo = build_demo(SEED)
    threads: dict[str, list[str]] = {}
    for email in demo.emails:
        if email["account_id"] == GMAIL_ID:
            threads.setdefault(email["thread_id"], []).append(email["date"])
    for thread_id, dates in threads.items():
        if len(dates) >= min_emails and all(map(_in_window, dates)):
            return thread_id
    raise LookupError("no such demo thread")


def demo_conversations(count: int) -> list[tuple[str, str]]:
    """(account UniPile id, conversation id) of `count` demo conversations, chats and threads."""
    demo = build_demo(SEED)
    chats = [
        (WHATSAPP_ID, str(chat["id"])) for chat in demo.chats if chat["account_id"] == WHATSAPP_ID
    ]
    threads = sorted(
        {(GMAIL_ID, str(e["thread_id"])) for e in demo.emails if e["account_id"] == GMAIL_ID}
    )
    half = count // 2
    return chats[:half] + threads[: count - half]
