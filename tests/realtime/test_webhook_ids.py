"""A webhook whose ids are not UniPile ids is acknowledged, and goes no further: not recorded, not
processed, nothing sent to UniPile."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.vocabulary import Channel
from db.models import Account, Conversation, Message, User, WebhookReceipt, Workspace
from realtime.pubsub import InProcessPubSub, RedisPubSub
from realtime.receipts import ReceiptProcessor
from realtime.topics import workspace_messages_topic
from server.app import create_app
from server.settings import Settings
from server.webhooks import AUTH_HEADER, ID_FIELDS, WEBHOOK_PATH
from tests.realtime.conftest import SECRET, HandledLog, receiver_app
from unipile import UnipileClient
from unipile.sandbox import SandboxSettings
from unipile.sandbox.testing import running_app, running_sandbox

SANDBOX_KEY = "webhook-ids-sandbox-key"
SIGNING_KEY = "webhook-ids-signing-key-0123456789abcdef"
WHATSAPP = "acc_whatsapp_demo_0001"
HOSTILE_CHAT = "../webhooks"
HOSTILE_MESSAGE = "m-hostile-1"

CHAT_EVENT = {"account_id": "acc", "chat_id": "c1", "message_id": "m1"}
EMAIL_EVENT = {
    "account_id": "acc",
    "email_id": "e1",
    "thread_id": "t1",
    "message_id": "<CAF1234@mail.gmail.com>",
}


async def post(url: str, body: Mapping[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        return await client.post(WEBHOOK_PATH, json=body, headers={AUTH_HEADER: SECRET})


@pytest.fixture
def sandbox_url() -> Iterator[str]:
    with running_sandbox(SandboxSettings(api_key=SANDBOX_KEY)) as url:
        yield url


@pytest.fixture
async def account(database: str) -> Account:
    workspace = await Workspace.create(name="Acme", slug="acme")
    owner = await User.create(workspace=workspace, email="a@acme.test", name="A")
    return await Account.create(
        workspace=workspace,
        owner=owner,
        channel=Channel.WHATSAPP,
        provider="WHATSAPP",
        unipile_id=WHATSAPP,
        name="A",
    )


def app_settings(database: str, redis_url: str, sandbox_url: str, data_dir: Path) -> Settings:
    return Settings.from_environ(
        {
            "DATABASE_URL": database,
            "REDIS_URL": redis_url,
            "JWT_SECRET": SIGNING_KEY,
            "DATA_DIR": str(data_dir),
            "UNIPILE_DSN": sandbox_url,
            "UNIPILE_API_KEY": SANDBOX_KEY,
            "WEBHOOK_SECRET": SECRET,
        },
        env_file=None,
    )


async def genuine_message(sandbox_url: str) -> dict[str, Any]:
    """A `message_received` payload naming a real one-to-one chat of the sandbox and its message."""
    async with httpx.AsyncClient() as http:
        upstream = UnipileClient(http, sandbox_url, SANDBOX_KEY)
        chats = await upstream.list_chats(account_id=WHATSAPP)
        chat = next(chat for chat in chats.items if not chat.is_group)
        [message] = (await upstream.list_chat_messages(chat.id, limit=1)).items
    return {
        "event": "message_received",
        "account_id": WHATSAPP,
        "chat_id": chat.id,
        "message_id": message.id,
        "message": "Bonjour !",
        "webhook_name": "switchboard-messaging",
    }


async def upstream_requests(sandbox_url: str) -> dict[str, int]:
    """What the sandbox was asked, by route template, since the last reset."""
    async with httpx.AsyncClient(base_url=sandbox_url) as admin:
        requests: dict[str, int] = (await admin.get("/_sandbox/stats")).json()["requests"]
    return requests


async def reset_upstream_requests(sandbox_url: str) -> None:
    async with httpx.AsyncClient(base_url=sandbox_url) as admin:
        (await admin.post("/_sandbox/stats/reset")).raise_for_status()


async def test_a_message_naming_the_webhooks_endpoint_is_acknowledged_and_goes_nowhere(
    database: str, redis_url: str, sandbox_url: str, account: Account, tmp_path: Path
) -> None:
    genuine = await genuine_message(sandbox_url)
    hostile = {**genuine, "chat_id": HOSTILE_CHAT, "message_id": HOSTILE_MESSAGE}
    listener = RedisPubSub(redis_url)
    await listener.start()
    try:
        app = create_app(app_settings(database, redis_url, sandbox_url, tmp_path))
        with running_app(app) as url:
            async with listener.subscribe(workspace_messages_topic(account.workspace_id)) as live:
                await reset_upstream_requests(sandbox_url)
                rejected = await post(url, hostile)
                # The genuine event, sent after, shows when processing has caught up.
                assert (await post(url, genuine)).json() == {"status": "recorded"}
                published = []
                async with asyncio.timeout(10):
                    async for event in live:
                        published.append(event)
                        if event.get("event_id") == f"message_received:{genuine['message_id']}":
                            break
    finally:
        await listener.aclose()
    assert (rejected.status_code, rejected.json()) == (200, {"status": "rejected"})
    # Only the genuine message was read; nothing went to /api/v1/webhooks or anywhere else.
    assert await upstream_requests(sandbox_url) == {
        "GET /api/v1/chats/{chat_id}": 1,
        "GET /api/v1/messages/{message_id}": 1,
    }
    # Other tests sharing this Redis may publish on the same topic: only ours are looked at.
    named = {
        (event["conversation"]["external_id"], event["message"]["external_id"])
        for event in published
    }
    assert (genuine["chat_id"], genuine["message_id"]) in named
    assert not any(HOSTILE_CHAT in pair or HOSTILE_MESSAGE in pair for pair in named)
    receipts = await WebhookReceipt.all()
    assert [receipt.event_key for receipt in receipts] == [
        f"message_received:{genuine['message_id']}"
    ]
    assert not await Conversation.filter(external_id=HOSTILE_CHAT).exists()
    assert not await Message.filter(external_id=HOSTILE_MESSAGE).exists()


def valid_event(kind: str) -> dict[str, Any]:
    """A payload of `kind` whose every id is valid."""
    if kind == "account_status":
        return {"AccountStatus": {"account_id": "acc", "message": "OK"}}
    return {"event": kind, **(EMAIL_EVENT if kind.startswith("mail_") else CHAT_EVENT)}


def with_field(payload: Mapping[str, Any], field: str, value: object) -> dict[str, Any]:
    """A copy of `payload` with the dotted `field` set to `value`."""
    name, _, rest = field.partition(".")
    if not rest:
        return {**payload, name: value}
    return {**payload, name: with_field(payload[name], rest, value)}


INVALID = [
    ("message_received", "chat_id", HOSTILE_CHAT),
    ("message_received", "message_id", "a/../../webhooks"),
    ("message_received", "account_id", "acc\r\nX-Injected: 1"),
    ("message_read", "chat_id", ".."),
    ("message_reaction", "chat_id", 42),
    ("mail_received", "email_id", "x" * 10_000),
    ("mail_sent", "thread_id", "."),
    ("account_status", "AccountStatus.account_id", "acc\u0000"),
]


@pytest.fixture
def handled() -> HandledLog:
    return HandledLog()


@pytest.fixture
def receiver(sqlite_database: str, handled: HandledLog) -> Iterator[str]:
    """A receiver handling every event kind that names UniPile objects, with `handled`."""
    pubsub = InProcessPubSub()
    processor = ReceiptProcessor(pubsub, poll_interval=0.2)
    for kind in ID_FIELDS:
        processor.on(kind, handled.handler)
    with running_app(receiver_app(sqlite_database, processor, pubsub)) as url:
        yield url


@pytest.mark.parametrize(("kind", "field", "value"), INVALID)
async def test_an_event_with_an_invalid_id_is_acknowledged_logged_and_dropped(
    receiver: str,
    handled: HandledLog,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    field: str,
    value: object,
) -> None:
    response = await post(receiver, with_field(valid_event(kind), field, value))
    assert (response.status_code, response.json()) == (200, {"status": "rejected"})
    warnings = [r for r in caplog.records if r.name == "server.webhooks"]
    assert [r.levelno for r in warnings] == [logging.WARNING]
    assert f"rejected a {kind} webhook: its {field} " in warnings[0].getMessage()
    assert "\n" not in warnings[0].getMessage()
    assert await WebhookReceipt.all().count() == 0 and handled.ids == []


VALID = [
    ("message_received", "chat_id", "33698765432@s.whatsapp.net"),
    ("message_read", "message_id", None),
    ("mail_received", "email_id", "AAMkAGI2=/+x"),
    ("mail_sent", "thread_id", None),
    # An email's message_id is its Message-ID header, not a UniPile id: never checked.
    ("mail_received", "message_id", "<" + "x" * 300 + "@mail.gmail.com>"),
    ("account_status", "AccountStatus.account_id", "acc_whatsapp_demo_0001"),
]


@pytest.mark.parametrize(("kind", "field", "value"), VALID)
async def test_an_event_with_valid_ids_is_recorded(
    receiver: str, kind: str, field: str, value: object
) -> None:
    response = await post(receiver, with_field(valid_event(kind), field, value))
    assert (response.status_code, response.json()) == (200, {"status": "recorded"})
    assert await WebhookReceipt.all().count() == 1
