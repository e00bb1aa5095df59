"""A page parses whole only the chats it shows and the emails of the threads it shows: the rest of
each list is read as far as ordering and grouping need (`unipile.ChatHead`, `unipile.EmailHead`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest

from tests.inbox.conftest import SANDBOX_KEY, Inbox
from tests.inbox.test_conversations import PAGE, hold_automatic_storage
from unipile import Chat, Email

ALICE_MAILBOXES = ("acc_gmail_demo_000001", "acc_outlook_demo_00001")
WINDOW = 200


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[str]]]:
    """The ids of the emails and chats parsed whole (the served app runs in this process)."""
    ids: dict[str, list[str]] = {"emails": [], "chats": []}
    parse_email, parse_chat = Email.from_json, Chat.from_json

    def email(data: Mapping[str, Any]) -> Email:
        ids["emails"].append(data["id"])
        return parse_email(data)

    def chat(data: Mapping[str, Any]) -> Chat:
        ids["chats"].append(data["id"])
        return parse_chat(data)

    monkeypatch.setattr(Email, "from_json", email)
    monkeypatch.setattr(Chat, "from_json", chat)
    yield ids


async def mailbox_window(inbox: Inbox, account_id: str) -> list[dict[str, Any]]:
    """The first window of the mailbox, as the inbox asks UniPile for it."""
    async with httpx.AsyncClient(base_url=inbox.sandbox) as client:
        response = await client.get(
            "/api/v1/emails",
            params={"account_id": account_id, "meta_only": "true", "limit": str(WINDOW)},
            headers={"X-API-KEY": SANDBOX_KEY},
        )
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_only_what_the_page_shows_is_parsed_whole(
    inbox: Inbox, parsed: dict[str, list[str]]
) -> None:
    await hold_automatic_storage()
    windows = [email for a in ALICE_MAILBOXES for email in await mailbox_window(inbox, a)]
    parsed["emails"].clear()
    parsed["chats"].clear()
    result = await inbox.query(PAGE, {"first": 50})
    assert "errors" not in result, result["errors"]
    nodes = [edge["node"] for edge in result["data"]["conversations"]["edges"]]
    threads = {node["externalId"] for node in nodes if node["channel"] == "EMAIL"}
    chats = [node["externalId"] for node in nodes if node["channel"] != "EMAIL"]
    assert threads and chats, "alice's first page shows email threads and chats"
    expected = [email["id"] for email in windows if (email["thread_id"] or email["id"]) in threads]
    assert sorted(parsed["emails"]) == sorted(expected)
    assert len(parsed["emails"]) < len(windows) / 2
    assert sorted(parsed["chats"]) == sorted(chats)
