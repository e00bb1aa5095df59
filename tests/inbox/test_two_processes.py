"""Two server processes sharing one database and Redis: events cross from one to the other."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.graphql_ws import subscribe
from tests.inbox.conftest import SANDBOX_KEY, SIGNING_KEY, WEBHOOK_SECRET, Inbox
from tests.processes import served_processes

MESSAGES = "subscription { messageReceived { message { text } conversation { externalId } } }"
WHATSAPP = "acc_whatsapp_demo_0001"


@pytest.fixture
def servers(inbox: Inbox, database: str, redis_url: str, tmp_path: Path) -> Iterator[list[str]]:
    environment = {
        "DATABASE_URL": database,
        "REDIS_URL": redis_url,
        "UNIPILE_DSN": inbox.sandbox,
        "UNIPILE_API_KEY": SANDBOX_KEY,
        "JWT_SECRET": SIGNING_KEY,
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "LOG_LEVEL": "WARNING",
    }
    with served_processes(("a", "b"), environment, tmp_path) as urls:
        yield urls


async def a_whatsapp_chat(inbox: Inbox) -> str:
    """A one-to-one WhatsApp chat of bob's."""
    query = """{ conversations(first: 30, filter: {channels: [WHATSAPP]}) {
      edges { node { externalId isGroup } } } }"""
    chats = await inbox.query(query, user="bob")
    assert "errors" not in chats, chats
    edges = chats["data"]["conversations"]["edges"]
    return str(next(e["node"]["externalId"] for e in edges if not e["node"]["isGroup"]))


async def message_webhook(inbox: Inbox, text: str) -> tuple[str, dict[str, Any]]:
    """A new message in one of bob's chats, and the webhook UniPile would send for it (the
    sandbox delivers none itself: no webhook is registered with it)."""
    chat_id = await a_whatsapp_chat(inbox)
    async with httpx.AsyncClient() as http:
        body = {"account_id": WHATSAPP, "chat_id": chat_id, "text": text}
        sent = (await http.post(f"{inbox.sandbox}/_sandbox/messages", json=body)).json()
    payload = {
        "event": "message_received",
        "account_id": WHATSAPP,
        "chat_id": chat_id,
        "message_id": sent["id"],
        "message": text,
        "sender": {"attendee_name": "X", "attendee_provider_id": sent["sender_id"]},
    }
    return chat_id, payload


async def test_a_webhook_on_one_process_reaches_a_subscriber_on_the_other(
    inbox: Inbox, servers: list[str]
) -> None:
    process_a, process_b = servers
    chat_id, payload = await message_webhook(inbox, "across")
    async with subscribe(process_b, inbox.tokens["bob"], MESSAGES) as live:
        started = time.monotonic()
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"{process_a}/webhooks/unipile",
                json=payload,
                headers={"Unipile-Auth": WEBHOOK_SECRET},
            )
        assert response.status_code == 200
        event = (await live.next(seconds=5))["data"]["messageReceived"]
        assert time.monotonic() - started < 1.0
    assert event == {"message": {"text": "across"}, "conversation": {"externalId": chat_id}}


async def test_one_webhook_delivered_to_both_processes_is_published_once(
    inbox: Inbox, servers: list[str]
) -> None:
    _, payload = await message_webhook(inbox, "twice")
    headers = {"Unipile-Auth": WEBHOOK_SECRET}
    async with subscribe(servers[1], inbox.tokens["bob"], MESSAGES) as live:
        async with httpx.AsyncClient() as http:
            answers = await asyncio.gather(
                *(
                    http.post(f"{url}/webhooks/unipile", json=payload, headers=headers)
                    for url in servers * 3
                )
            )
        assert {answer.status_code for answer in answers} == {200}
        assert [answer.json()["status"] for answer in answers].count("recorded") == 1
        event = (await live.next(seconds=5))["data"]["messageReceived"]
        assert event["message"]["text"] == "twice"
        assert await live.nothing_within(1.5)
    await asyncio.sleep(0)


UPDATES = (
    "subscription { conversationUpdated { change conversationId conversation { storage { stored "
    "reason } } } }"
)
LINK = (
    "mutation($input: LinkConversationInput!) { linkConversation(input: $input) { error { code } "
    "} }"
)


async def test_a_mutation_on_one_process_reaches_a_subscriber_on_the_other(
    inbox: Inbox, servers: list[str]
) -> None:
    process_a, process_b = servers
    on_b = Inbox(url=process_b, sandbox=inbox.sandbox, tokens=inbox.tokens)
    page = await on_b.query(
        "{ conversations(first: 3, filter: {channels: [LINKEDIN]}) { edges { node { id } } } }"
    )
    conversation_id = page["data"]["conversations"]["edges"][0]["node"]["id"]
    contacts = await on_b.query("{ contacts(first: 1) { edges { node { id } } } }")
    contact_id = contacts["data"]["contacts"]["edges"][0]["node"]["id"]
    async with subscribe(process_a, inbox.tokens["alice"], UPDATES) as live:
        result = await on_b.query(
            LINK, {"input": {"conversationId": conversation_id, "contactId": contact_id}}
        )
        assert result["data"]["linkConversation"]["error"] is None
        # Within a second of the mutation's answer (it may well have arrived before).
        event = (await live.next(seconds=1.0))["data"]["conversationUpdated"]
    assert event["change"] == "LINKED"
    assert event["conversationId"] == conversation_id
    assert event["conversation"]["storage"] == {"stored": True, "reason": "MANUAL_LINK"}
