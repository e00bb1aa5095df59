"""Webhooks are never lost to their content: text PostgreSQL refuses (U+0000) or UTF-8 cannot
encode (lone surrogates) is made storable, and an event whose handler fails is kept, retried,
logged and counted while UniPile gets its 2xx."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
import pytest

from core.vocabulary import Channel, ReceiptState
from db.claims import RetryPolicy
from db.models import Conversation, Message, WebhookReceipt
from db.text import REPLACEMENT, storable, storable_text
from realtime.pubsub import InProcessPubSub
from realtime.receipts import Publication, ReceiptProcessor, parse_webhook
from server.webhooks import AUTH_HEADER, WEBHOOK_PATH
from tests.graphql_ws import subscribe
from tests.inbox.conftest import Inbox
from tests.inbox.test_conversations import hold_automatic_storage
from tests.inbox.test_live_messages import register
from tests.realtime.conftest import SECRET, HandledLog, eventually, receiver_app
from tests.storing.test_conversation_mutations import STORE, conversations, mutate
from unipile.sandbox.testing import running_app

NUL = "\x00"
SURROGATE = "\ud800"
MESSAGE = {
    "event": "message_received",
    "account_id": "acc",
    "chat_id": "c1",
    "message_id": "m1",
    "message": f"Bon{NUL}jour",
    "subject": f"Sub{NUL}ject",
    "sender": {"attendee_name": f"Ada{NUL}Lovelace", "attendee_provider_id": "p1"},
}
AUTH = {AUTH_HEADER: SECRET}


@dataclass(frozen=True)
class Named:
    name: str
    channel: Channel
    tags: tuple[str, ...]


def test_storable_replaces_what_databases_refuse_everywhere_in_a_value() -> None:
    assert (
        storable_text(f"a{NUL}b{SURROGATE}c\udfff") == f"a{REPLACEMENT}b{REPLACEMENT}c{REPLACEMENT}"
    )
    assert storable_text("\U0001f600 émoji") == "\U0001f600 émoji"
    nested = {f"k{NUL}": [f"x{NUL}", ("y", SURROGATE)], "n": 1, "none": None}
    assert storable(nested) == {
        f"k{REPLACEMENT}": [f"x{REPLACEMENT}", ("y", REPLACEMENT)],
        "n": 1,
        "none": None,
    }
    record = Named(f"A{NUL}", Channel.EMAIL, ("t", f"u{NUL}"))
    cleaned = storable(record)
    assert cleaned == Named(f"A{REPLACEMENT}", Channel.EMAIL, ("t", f"u{REPLACEMENT}"))
    assert cleaned.channel is Channel.EMAIL
    clean = {"a": ["b", {"c": "d"}]}
    assert storable(clean) is clean
    assert storable(Named("A", Channel.WHATSAPP, ())) == Named("A", Channel.WHATSAPP, ())


def test_a_webhook_body_is_read_whatever_its_text() -> None:
    assert parse_webhook(b'{"a": "x\\u0000y"}') == {"a": f"x{NUL}y"}
    # orjson refuses these two; UniPile's retries would be refused alike.
    assert parse_webhook(b'{"a": "\\ud800", "b": "\\udc00x"}') == {"a": SURROGATE, "b": "\udc00x"}
    assert parse_webhook(b'{"a": "caf\xe9"}') == {"a": f"caf{REPLACEMENT}"}
    for body in (b"{not json", b"", b"\xff\xfe"):
        with pytest.raises(ValueError):
            parse_webhook(body)


async def test_a_webhook_with_unstorable_text_is_acknowledged_recorded_and_processed(
    database: str,
) -> None:
    log = HandledLog()
    pubsub = InProcessPubSub()
    processor = ReceiptProcessor(pubsub, poll_interval=0.1)
    processor.on("message_received", log.handler)
    surrogate_body = (
        b'{"event": "message_received", "account_id": "acc", "chat_id": "c1", '
        b'"message_id": "m2", "message": "lone \\ud83d surrogate"}'
    )
    with running_app(receiver_app(database, processor, pubsub)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            first = await client.post(WEBHOOK_PATH, json=MESSAGE, headers=AUTH)
            second = await client.post(WEBHOOK_PATH, content=surrogate_body, headers=AUTH)

            async def both_processed() -> bool:
                return len(log.ids) == 2

            await eventually(both_processed)
    assert [first.status_code, second.status_code] == [200, 200]
    assert first.json() == second.json() == {"status": "recorded"}
    receipt, other = await WebhookReceipt.all().order_by("id")
    assert receipt.payload["message"] == f"Bon{REPLACEMENT}jour"
    assert receipt.payload["subject"] == f"Sub{REPLACEMENT}ject"
    assert receipt.payload["sender"]["attendee_name"] == f"Ada{REPLACEMENT}Lovelace"
    assert other.payload["message"] == f"lone {REPLACEMENT} surrogate"
    assert {receipt.state, other.state} == {ReceiptState.PROCESSED}


async def test_an_event_whose_handler_fails_is_kept_retried_logged_and_counted(
    database: str, caplog: pytest.LogCaptureFixture
) -> None:
    attempts: list[int] = []

    async def broken(receipt: WebhookReceipt) -> Sequence[Publication]:
        attempts.append(receipt.id)
        raise RuntimeError("the handler cannot cope")

    pubsub = InProcessPubSub()
    processor = ReceiptProcessor(
        pubsub, poll_interval=0.05, retry=RetryPolicy(max_attempts=3, first_delay=0.05)
    )
    processor.on("message_received", broken)
    caplog.set_level(logging.WARNING, logger="realtime.receipts")
    with running_app(receiver_app(database, processor, pubsub)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            response = await client.post(WEBHOOK_PATH, json=MESSAGE, headers=AUTH)
        assert (response.status_code, response.json()) == (200, {"status": "recorded"})

        async def given_up() -> bool:
            receipt = await WebhookReceipt.get()
            return receipt.attempts == 3

        await eventually(given_up)
    receipt = await WebhookReceipt.get()
    assert (receipt.state, receipt.attempts) == (ReceiptState.FAILED, 3)
    assert receipt.last_error is not None and "the handler cannot cope" in receipt.last_error
    assert receipt.payload["message"] == f"Bon{REPLACEMENT}jour"  # kept, to look into
    assert len(attempts) == 3
    counters = processor.counters
    assert (counters.failed, counters.given_up, counters.succeeded) == (3, 1, 0)
    lines = [r for r in caplog.records if r.name == "realtime.receipts"]
    assert [r.levelno for r in lines] == [logging.WARNING, logging.WARNING, logging.ERROR]
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in lines)
    assert "giving up" in lines[-1].getMessage()


MESSAGES = """subscription { messageReceived { message { text sender { displayName } }
  conversation { externalId subject } } }"""


async def test_a_message_with_nul_reaches_its_subscriber_and_its_stored_copy(inbox: Inbox) -> None:
    await register(inbox)
    chat = next(
        c
        for c in await conversations(inbox, user="bob", filter={"channels": ["WHATSAPP"]})
        if not c["isGroup"]
    )
    stored = await mutate(inbox, STORE, {"conversationId": chat["id"]}, user="bob")
    assert stored["error"] is None
    async with subscribe(inbox.url, inbox.tokens["bob"], MESSAGES) as live:
        response = await inbox.sandbox_post(
            "/_sandbox/messages",
            {
                "account_id": "acc_whatsapp_demo_0001",
                "chat_id": chat["externalId"],
                "text": f"Bon{NUL}jour",
            },
        )
        assert response.status_code == 201
        event = (await live.next(seconds=10))["data"]["messageReceived"]
    assert event["message"]["text"] == f"Bon{REPLACEMENT}jour"
    assert event["conversation"]["externalId"] == chat["externalId"]

    async def appended() -> bool:
        return await Message.filter(
            conversation__external_id=chat["externalId"], text=f"Bon{REPLACEMENT}jour"
        ).exists()

    await eventually(appended)
    assert not await WebhookReceipt.filter(state=ReceiptState.FAILED).exists()


async def test_an_email_with_nul_in_its_subject_and_names_reaches_its_subscriber(
    inbox: Inbox,
) -> None:
    await hold_automatic_storage()  # storing the thread is storing/copies.py's business
    await register(inbox)
    async with subscribe(inbox.url, inbox.tokens["alice"], MESSAGES) as live:
        await inbox.sandbox_post(
            "/_sandbox/messages",
            {
                "account_id": "acc_gmail_demo_000001",
                "thread_id": "nul-thread-1",
                "sender": "someone@example.org",
                "sender_name": f"Some{NUL}One",
                "text": f"Body{NUL}text",
                "subject": f"Sub{NUL}ject",
            },
        )
        event = (await live.next(seconds=10))["data"]["messageReceived"]
    assert event["conversation"]["subject"] == f"Sub{REPLACEMENT}ject"
    assert event["message"]["text"].startswith(f"Body{REPLACEMENT}text")
    assert NUL not in str(event)
    assert not await WebhookReceipt.filter(state=ReceiptState.FAILED).exists()
    assert not await Conversation.filter(external_id="nul-thread-1").exists()
