"""Cursor paging on every list endpoint: small pages add up to one large listing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.unipile.unipile_testkit import GMAIL, LINKEDIN, OUTLOOK, WHATSAPP, collect
from unipile import Page, UnipileClient

Lister = Callable[[UnipileClient, int, str | None], Awaitable[Page[Any]]]


async def busiest_chat(client: UnipileClient) -> str:
    chats = (await client.list_chats(account_id=WHATSAPP, limit=60)).items
    counts = {c.id: len((await client.list_chat_messages(c.id, limit=250)).items) for c in chats}
    return max(counts, key=counts.__getitem__)


LISTERS: dict[str, Lister] = {
    "accounts": lambda c, limit, cursor: c.list_accounts(limit=limit, cursor=cursor),
    "all chats": lambda c, limit, cursor: c.list_chats(limit=limit, cursor=cursor),
    "chats of two accounts": lambda c, limit, cursor: c.list_chats(
        account_id=f"{LINKEDIN},{WHATSAPP}", limit=limit, cursor=cursor
    ),
    "unread chats": lambda c, limit, cursor: c.list_chats(unread=True, limit=limit, cursor=cursor),
    "account attendees": lambda c, limit, cursor: c.list_account_attendees(
        account_id=WHATSAPP, limit=limit, cursor=cursor
    ),
    "all emails": lambda c, limit, cursor: c.list_emails(limit=limit, cursor=cursor),
    "inbox emails": lambda c, limit, cursor: c.list_emails(
        account_id=OUTLOOK, folder="AQMkADAwATNiZmYAZS1pbmJveA", limit=limit, cursor=cursor
    ),
    "meta emails": lambda c, limit, cursor: c.list_emails(
        account_id=GMAIL, meta_only=True, limit=limit, cursor=cursor
    ),
    "webhooks": lambda c, limit, cursor: c.list_webhooks(limit=limit, cursor=cursor),
}


def ids(items: list[Any]) -> list[str]:
    return [item.id for item in items]


@pytest.mark.parametrize("name", LISTERS)
async def test_small_pages_equal_one_large_listing(client: UnipileClient, name: str) -> None:
    for index in range(12):
        await client.create_webhook(request_url=f"http://127.0.0.1:9/{index}", source="email")
    lister = LISTERS[name]
    large = await collect(lambda cursor: lister(client, 250, cursor))
    limit = 3 if len(large) < 50 else 23
    small = await collect(lambda cursor: lister(client, limit, cursor))
    assert len(large) > limit
    assert ids(small) == ids(large)
    assert len(set(ids(small))) == len(small)


async def test_chat_messages_pages(client: UnipileClient) -> None:
    chat_id = await busiest_chat(client)
    large = (await client.list_chat_messages(chat_id, limit=250)).items
    small = await collect(lambda cursor: client.list_chat_messages(chat_id, limit=3, cursor=cursor))
    assert len(large) > 3 and ids(small) == ids(list(large))


async def test_cursor_carries_the_filters(client: UnipileClient) -> None:
    first = await client.list_chats(account_id=LINKEDIN, limit=5)
    assert first.cursor is not None
    # Filters sent along with a cursor are ignored: the cursor's own filters apply.
    second = await client.list_chats(account_id=WHATSAPP, limit=5, cursor=first.cursor)
    assert all(chat.account_id == LINKEDIN for chat in second.items)


async def test_new_messages_between_pages(client: UnipileClient, admin: httpx.AsyncClient) -> None:
    """Items that existed when paging began are all returned once, in order, despite new ones."""
    chat_id = await busiest_chat(client)
    messages_before = (await client.list_chat_messages(chat_id, limit=250)).items

    new_chats = iter(range(1000))

    async def disturbed(fetch: Callable[[str | None], Awaitable[Page[Any]]]) -> list[Any]:
        async def fetch_and_disturb(cursor: str | None) -> Page[Any]:
            page = await fetch(cursor)
            # New items arrive in the listed chat, in a brand-new chat and in the mailbox.
            await client.send_chat_message(chat_id, text="between pages")
            new_chat = {"account_id": WHATSAPP, "chat_id": f"new-{next(new_chats)}", "text": "hi"}
            await admin.post("/_sandbox/messages", json={**new_chat, "sender": "447700900123"})
            await client.send_email(account_id=GMAIL, body="new", to=["someone@example.org"])
            return page

        return await collect(fetch_and_disturb)

    messages = await disturbed(
        lambda cursor: client.list_chat_messages(chat_id, limit=4, cursor=cursor)
    )
    assert ids(messages) == ids(list(messages_before))

    chats_before = await collect(lambda cursor: client.list_chats(limit=250, cursor=cursor))

    async def chats_page(cursor: str | None) -> Page[Any]:
        page = await client.list_chats(limit=40, cursor=cursor)
        await client.send_chat_message(page.items[0].id, text="served chat moves to top")
        return page

    chats = await collect(chats_page)
    original = set(ids(chats_before))
    # A served chat that gets a message moves above the cursor, so it is never repeated.
    assert [i for i in ids(chats) if i in original] == ids(chats_before)

    emails_before = await collect(lambda cursor: client.list_emails(limit=250, cursor=cursor))
    emails = await disturbed(lambda cursor: client.list_emails(limit=50, cursor=cursor))
    assert ids(emails) == ids(emails_before)
