"""Live mode: webhook deliveries with custom headers, retries, and account status changes."""

from __future__ import annotations

import asyncio

import httpx

from tests.unipile.unipile_testkit import GMAIL, LINKEDIN, WHATSAPP, Receiver
from unipile import UnipileClient


async def test_message_webhook(
    client: UnipileClient, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    await client.create_webhook(
        request_url=receiver.url,
        source="messaging",
        name="crm",
        headers=[("Unipile-Auth", "s3cret"), ("Content-Type", "application/json")],
        account_ids=[WHATSAPP],
    )
    chat = (await client.list_chats(account_id=WHATSAPP, limit=1)).items[0]
    body = {"account_id": WHATSAPP, "chat_id": chat.id, "text": "Bonjour !"}
    response = await admin.post("/_sandbox/messages", json=body)
    assert response.status_code == 201
    created = response.json()
    ((headers, payload),) = await receiver.wait_for(1)
    assert headers["unipile-auth"] == "s3cret"
    assert headers["content-type"] == "application/json"
    assert payload["event"] == "message_received" and payload["webhook_name"] == "crm"
    assert payload["message_id"] == created["id"] and payload["chat_id"] == chat.id
    assert payload["message"] == "Bonjour !" and payload["account_type"] == "WHATSAPP"
    assert payload["sender"]["attendee_provider_id"] == created["sender_id"]
    assert payload["sender"]["attendee_provider_id"].endswith("@s.whatsapp.net")
    assert {"attendee_id", "attendee_name"} <= payload["sender"].keys()
    assert payload["attendees"] and payload["timestamp"] == created["timestamp"]
    fetched = await client.get_chat(chat.id)
    assert fetched.last_message is not None and fetched.last_message.text == "Bonjour !"
    # The LinkedIn account is outside the webhook's account filter: nothing is delivered.
    other = (await client.list_chats(account_id=LINKEDIN, limit=1)).items[0]
    body = {"account_id": LINKEDIN, "chat_id": other.id, "text": "Hi"}
    await admin.post("/_sandbox/messages", json=body)
    await asyncio.sleep(0.2)
    assert len(receiver.calls) == 1


async def test_delivery_is_retried(
    client: UnipileClient, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.failures = 2
    await client.create_webhook(request_url=receiver.url, source="messaging")
    body = {
        "account_id": WHATSAPP,
        "chat_id": "brand-new-chat",
        "text": "Hello",
        "sender": "+44 7700 900123",
        "sender_name": "New Person",
    }
    created = (await admin.post("/_sandbox/messages", json=body)).json()
    calls = await receiver.wait_for(3)
    assert [payload["message_id"] for _, payload in calls] == [created["id"]] * 3
    chat = await client.get_chat("brand-new-chat")
    assert chat.provider_id == "447700900123@s.whatsapp.net" and chat.name == "New Person"


async def test_email_webhook(
    client: UnipileClient, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    await client.create_webhook(request_url=receiver.url, source="email", headers=[("X-K", "v")])
    parent = (await client.list_emails(account_id=GMAIL, folder="INBOX", limit=1)).items[0]
    body = {"account_id": GMAIL, "thread_id": parent.thread_id, "text": "Any news?"}
    created = (await admin.post("/_sandbox/messages", json=body)).json()
    ((headers, payload),) = await receiver.wait_for(1)
    assert headers["x-k"] == "v"
    assert payload["event"] == "mail_received" and payload["email_id"] == created["id"]
    assert payload["thread_id"] == parent.thread_id and payload["body_plain"] == "Any news?"
    assert payload["in_reply_to"]["id"] == parent.id
    assert parent.from_attendee is not None
    assert payload["from_attendee"]["identifier"] == parent.from_attendee.identifier
    email = await client.get_email(created["id"])
    assert email.thread_id == parent.thread_id and not email.is_read


async def test_account_status_webhook(
    client: UnipileClient, admin: httpx.AsyncClient, receiver: Receiver
) -> None:
    await client.create_webhook(request_url=receiver.url, source="account_status")
    response = await admin.post(f"/_sandbox/accounts/{LINKEDIN}/status", json={"status": "ERROR"})
    assert response.status_code == 200
    ((_, payload),) = await receiver.wait_for(1)
    assert payload == {
        "AccountStatus": {"account_id": LINKEDIN, "account_type": "LINKEDIN", "message": "ERROR"}
    }
    await admin.post(f"/_sandbox/accounts/{LINKEDIN}/status", json={"status": "OK"})
    calls = await receiver.wait_for(2)
    assert calls[1][1]["AccountStatus"]["message"] == "OK"


async def test_generator_keeps_the_inbox_alive() -> None:
    from unipile.sandbox import SandboxSettings
    from unipile.sandbox.testing import running_sandbox

    settings = SandboxSettings(generator_interval_s=0.02)
    with running_sandbox(settings) as url:
        async with httpx.AsyncClient() as http:
            client = UnipileClient(http, url, settings.api_key)
            before = (await client.list_chats(limit=1)).items[0].timestamp
            await asyncio.sleep(0.3)
            after = (await client.list_chats(limit=1)).items[0].timestamp
    assert before is not None and after is not None and after > before


async def test_api_sends_fire_webhooks(client: UnipileClient, receiver: Receiver) -> None:
    await client.create_webhook(request_url=receiver.url, source="email", events=["mail_sent"])
    sent = await client.send_email(account_id=GMAIL, body="Hi", to=["x@example.org"], subject="S")
    ((_, payload),) = await receiver.wait_for(1)
    assert payload["event"] == "mail_sent" and payload["email_id"] == sent.id
    assert payload["role"] == "sent"
