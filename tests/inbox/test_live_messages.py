"""New messages end to end: the sandbox's webhook, the server's processing, a subscriber."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import websockets

from server.webhooks import register_webhooks
from tests.graphql_ws import LEGACY_WS, TRANSPORT_WS, subscribe
from tests.inbox.conftest import SANDBOX_KEY, WEBHOOK_SECRET, Inbox
from tests.inbox.test_conversations import hold_automatic_storage
from unipile import UnipileClient

MESSAGES = """
subscription($filter: SubscriptionFilter) { messageReceived(filter: $filter) {
  message { id externalId text direction sender { identifier displayName crmMatch { contact { name
    } method } } }
  conversation { id externalId channel storage { stored shouldStore reason }
    participants { identifier isSelf crmMatch { contact { name } company { name } method ambiguous
      } } }
} }
"""
WHATSAPP = "acc_whatsapp_demo_0001"
GMAIL = "acc_gmail_demo_000001"


async def register(inbox: Inbox) -> None:
    async with httpx.AsyncClient() as http:
        client = UnipileClient(http, inbox.sandbox, SANDBOX_KEY)
        await register_webhooks(client, url=inbox.url, secret=WEBHOOK_SECRET)


async def a_chat_of(inbox: Inbox, account: str, user: str) -> str:
    result = await inbox.query(
        (
            "query($f: ConversationFilter) { conversations(first: 20, filter: $f) { edges { node "
            "{ externalId isGroup account { externalId } } } } }"
        ),
        {"f": {"channels": ["WHATSAPP"]}},
        user=user,
    )
    return next(
        e["node"]["externalId"]
        for e in result["data"]["conversations"]["edges"]
        if not e["node"]["isGroup"]
    )


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_new_whatsapp_message_reaches_its_subscriber_with_its_match(
    inbox: Inbox, protocol: str
) -> None:
    await register(inbox)
    chat_id = await a_chat_of(inbox, WHATSAPP, "bob")
    async with subscribe(inbox.url, inbox.tokens["bob"], MESSAGES, protocol=protocol) as live:
        response = await inbox.sandbox_post(
            "/_sandbox/messages", {"account_id": WHATSAPP, "chat_id": chat_id, "text": "Bonjour !"}
        )
        assert response.status_code == 201
        event = (await live.next(seconds=10))["data"]["messageReceived"]
    assert event["message"]["text"] == "Bonjour !"
    assert event["message"]["direction"] == "INBOUND"
    assert event["conversation"]["externalId"] == chat_id
    assert event["conversation"]["storage"]["reason"] in {"CONTACT_MATCH", "COMPANY_MATCH", "NONE"}


async def test_a_known_contacts_email_arrives_matched(inbox: Inbox) -> None:
    # Stored or not would depend on how fast the job queue is; its policy is tested elsewhere.
    await hold_automatic_storage()
    await register(inbox)
    async with subscribe(inbox.url, inbox.tokens["alice"], MESSAGES) as live:
        await inbox.sandbox_post(
            "/_sandbox/messages",
            {
                "account_id": GMAIL,
                "thread_id": "new-thread-1",
                "sender": "Jane.Doe+invoices@Acme-Corp.com",
                "text": "Invoice attached",
                "subject": "Invoice",
            },
        )
        event = (await live.next(seconds=10))["data"]["messageReceived"]
    assert event["message"]["text"].startswith("Invoice attached")
    sender = event["message"]["sender"]
    assert sender["identifier"].lower().startswith("jane.doe+invoices@")
    assert sender["crmMatch"] == {"contact": {"name": "Jane Doe"}, "method": "EMAIL"}
    jane = next(
        p for p in event["conversation"]["participants"] if p["identifier"] == sender["identifier"]
    )
    assert jane["crmMatch"]["company"] == {"name": "Acme"} or jane["crmMatch"]["company"][
        "name"
    ].startswith("Acme")
    assert event["conversation"]["storage"] == {
        "stored": False,
        "shouldStore": True,
        "reason": "CONTACT_MATCH",
    }


async def test_subscribers_see_only_their_accounts(inbox: Inbox) -> None:
    await register(inbox)
    chat_id = await a_chat_of(inbox, WHATSAPP, "bob")
    async with subscribe(inbox.url, inbox.tokens["alice"], MESSAGES) as alice:
        await inbox.sandbox_post(
            "/_sandbox/messages",
            {"account_id": WHATSAPP, "chat_id": chat_id, "text": "for bob only"},
        )
        assert await alice.nothing_within(2.0)


async def test_a_filter_narrows_the_events(inbox: Inbox) -> None:
    await register(inbox)
    chat_id = await a_chat_of(inbox, WHATSAPP, "bob")
    async with subscribe(
        inbox.url, inbox.tokens["bob"], MESSAGES, {"filter": {"channels": ["LINKEDIN"]}}
    ) as live:
        await inbox.sandbox_post(
            "/_sandbox/messages",
            {"account_id": WHATSAPP, "chat_id": chat_id, "text": "not linkedin"},
        )
        assert await live.nothing_within(2.0)


async def test_duplicate_deliveries_publish_once(inbox: Inbox) -> None:
    chat_id = await a_chat_of(inbox, WHATSAPP, "bob")
    async with httpx.AsyncClient() as http:
        sent = await http.post(
            f"{inbox.sandbox}/_sandbox/messages",
            json={"account_id": WHATSAPP, "chat_id": chat_id, "text": "once"},
        )
    message = sent.json()
    payload = {
        "event": "message_received",
        "account_id": WHATSAPP,
        "account_type": "WHATSAPP",
        "chat_id": chat_id,
        "message_id": message["id"],
        "message": "once",
        "timestamp": message["timestamp"],
        "sender": {
            "attendee_id": "x",
            "attendee_name": "X",
            "attendee_provider_id": message["sender_id"],
        },
    }
    headers = {"Unipile-Auth": WEBHOOK_SECRET}
    async with subscribe(inbox.url, inbox.tokens["bob"], MESSAGES) as live:
        async with httpx.AsyncClient(base_url=inbox.url) as client:
            first = await client.post("/webhooks/unipile", json=payload, headers=headers)
            await asyncio.gather(
                *(client.post("/webhooks/unipile", json=payload, headers=headers) for _ in range(5))
            )
        assert first.json()["status"] == "recorded"
        event = (await live.next(seconds=10))["data"]["messageReceived"]
        assert event["message"]["text"] == "once"
        assert await live.nothing_within(1.5)


@pytest.mark.parametrize("token", [None, "not-a-token"])
async def test_a_socket_without_a_valid_token_is_closed(inbox: Inbox, token: str | None) -> None:
    with pytest.raises((websockets.ConnectionClosed, ConnectionRefusedError)) as raised:
        async with subscribe(inbox.url, token, MESSAGES) as live:
            await live.next(seconds=3)
    if isinstance(raised.value, websockets.ConnectionClosed):
        assert raised.value.rcvd is not None and raised.value.rcvd.code == 4403


async def test_the_webhook_refuses_a_wrong_secret(inbox: Inbox) -> None:
    async with httpx.AsyncClient(base_url=inbox.url) as client:
        response = await client.post(
            "/webhooks/unipile",
            json={"event": "message_received"},
            headers={"Unipile-Auth": "wrong"},
        )
    assert response.status_code == 401


UPDATES = "subscription { conversationUpdated { change conversationId } }"


async def test_read_receipts_and_reactions_are_applied(inbox: Inbox) -> None:
    from db.models import Message
    from tests.storing.test_conversation_mutations import STORE, conversations, mutate

    chat = (await conversations(inbox, user="bob", filter={"channels": ["WHATSAPP"]}))[0]
    await mutate(inbox, STORE, {"conversationId": chat["id"]}, user="bob")
    unread = (
        await Message.filter(conversation__external_id=chat["externalId"])
        .order_by("-sent_at")
        .first()
    )
    assert unread is not None
    await Message.filter(id=unread.id).update(is_read=False)
    base = {
        "account_id": WHATSAPP,
        "account_type": "WHATSAPP",
        "chat_id": chat["externalId"],
        "message_id": unread.external_id,
    }
    async with subscribe(inbox.url, inbox.tokens["bob"], UPDATES) as live:
        async with httpx.AsyncClient(base_url=inbox.url) as client:
            headers = {"Unipile-Auth": WEBHOOK_SECRET}
            await client.post(
                "/webhooks/unipile",
                json={**base, "event": "message_read", "timestamp": "2026-11-25T10:00:00.000Z"},
                headers=headers,
            )
            read = (await live.next(seconds=10))["data"]["conversationUpdated"]
            await client.post(
                "/webhooks/unipile",
                json={**base, "event": "message_reaction", "reaction": "👍"},
                headers=headers,
            )
            reaction = (await live.next(seconds=10))["data"]["conversationUpdated"]
    assert (read["change"], read["conversationId"]) == ("READ_STATE", chat["id"])
    assert reaction["change"] == "REACTION"
    assert (await Message.get(id=unread.id)).is_read
