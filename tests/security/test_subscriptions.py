"""Subscriptions opened with another tenant's (or another user's private) ids in their filters.

Messages arrive as the sandbox's webhooks (`POST /_sandbox/messages`), read-state changes and
account status changes as the app publishes them. alice and bob receive theirs (the positive
controls); carol, dave and, for alice's mail, bob receive nothing of them, through any filter,
while their unfiltered subscriptions do receive their own tenant's events, sent afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from typing import Any

from tests.security.conftest import (
    ALICE_GMAIL,
    ALICE_PRIVATE_MARKERS,
    BOB_WHATSAPP,
    CAROL_GMAIL,
    DAVE_WHATSAPP,
    DEMO,
    DEMO_MARKERS,
    READ_ROUTES,
    RIVAL,
    SHARED_LINKEDIN,
    Socket,
    Tenants,
    a_chat,
    a_thread,
    conversation_gid,
    gid,
    leaked,
)

MESSAGES = """subscription($filter: SubscriptionFilter) { messageReceived(filter: $filter) {
  message { id externalId text sender { identifier displayName } }
  conversation { id externalId subject account { externalId } participants { identifier } } } }"""
UPDATES = """subscription($filter: SubscriptionFilter) { conversationUpdated(filter: $filter) {
  conversationId change conversation { id externalId subject account { externalId } } } }"""
STATUSES = "subscription { accountStatusChanged { id externalId status } }"
READ = """mutation($id: ID!, $read: Boolean!) { markConversationRead(input: {conversationId: $id,
  read: $read}) { error { code } } }"""


def account_filter(tenants: Tenants, *accounts: str) -> dict[str, Any]:
    return {"filter": {"accountIds": [gid("Account", tenants.accounts[a]) for a in accounts]}}


def conversation_filter(conversation_id: str) -> dict[str, Any]:
    return {"filter": {"conversationId": conversation_id}}


def data_of(socket: Socket, sid: str) -> list[dict[str, Any]]:
    """The events a subscription received (error-only payloads left out)."""
    return [payload["data"] for payload in socket.received[sid] if payload.get("data")]


def external_ids(events: list[dict[str, Any]]) -> set[str]:
    """The UniPile ids (conversation, or account for a status) the events were about."""
    found = set()
    for event in events:
        for value in event.values():
            if "conversationId" in value:
                key = base64.b64decode(value["conversationId"]).decode()
                found.add(key.split(":", 2)[-1])
            elif "conversation" in value:
                found.add(value["conversation"]["externalId"])
            else:
                found.add(value["externalId"])
    return found


async def post(tenants: Tenants, body: dict[str, Any]) -> None:
    response = await tenants.sandbox_post("/_sandbox/messages", body)
    assert response.status_code == 201, response.text


async def set_status(tenants: Tenants, account_id: str, status: str) -> None:
    response = await tenants.sandbox_post(
        f"/_sandbox/accounts/{account_id}/status", {"status": status}
    )
    assert response.status_code == 200, response.text


async def test_no_subscription_filter_lets_another_tenants_events_through(
    tenants: Tenants,
) -> None:
    alice_thread = a_thread(DEMO, ALICE_GMAIL)[0]["thread_id"]
    bob_chat = a_chat(DEMO, BOB_WHATSAPP)["id"]
    carol_thread = a_thread(RIVAL, CAROL_GMAIL)[0]["thread_id"]
    dave_chat = a_chat(RIVAL, DAVE_WHATSAPP)["id"]
    alice_conversation = tenants.conversation(ALICE_GMAIL, alice_thread)
    bob_conversation = tenants.conversation(BOB_WHATSAPP, bob_chat)
    carol_conversation = tenants.conversation(CAROL_GMAIL, carol_thread)
    secrets = (f"for alice only {uuid.uuid4()}", f"for bob only {uuid.uuid4()}")
    carol_pk, dave_pk = tenants.accounts[CAROL_GMAIL], tenants.accounts[DAVE_WHATSAPP]
    linkedin_pk = tenants.accounts[SHARED_LINKEDIN]
    async with (
        tenants.socket("alice") as alice,
        tenants.socket("bob") as bob,
        tenants.socket("carol") as carol,
        tenants.socket("dave") as dave,
    ):
        controls = {
            "alice messages": (
                alice,
                await alice.subscribe(MESSAGES, account_filter(tenants, ALICE_GMAIL)),
            ),
            "alice updates": (
                alice,
                await alice.subscribe(UPDATES, account_filter(tenants, ALICE_GMAIL)),
            ),
            "alice statuses": (alice, await alice.subscribe(STATUSES)),
            "bob messages": (
                bob,
                await bob.subscribe(MESSAGES, account_filter(tenants, BOB_WHATSAPP)),
            ),
        }
        # Subscriptions that must receive nothing at all.
        silent = {
            "carol messages of alice's account": (
                carol,
                await carol.subscribe(MESSAGES, account_filter(tenants, ALICE_GMAIL)),
            ),
            "carol messages of bob's account": (
                carol,
                await carol.subscribe(MESSAGES, account_filter(tenants, BOB_WHATSAPP)),
            ),
            "carol messages of alice's conversation": (
                carol,
                await carol.subscribe(MESSAGES, conversation_filter(alice_conversation)),
            ),
            "carol messages of her account and alice's thread": (
                carol,
                await carol.subscribe(
                    MESSAGES, conversation_filter(conversation_gid(carol_pk, alice_thread))
                ),
            ),
            "carol updates of alice's account": (
                carol,
                await carol.subscribe(UPDATES, account_filter(tenants, ALICE_GMAIL)),
            ),
            "carol updates of alice's conversation": (
                carol,
                await carol.subscribe(UPDATES, conversation_filter(alice_conversation)),
            ),
            "dave messages of bob's account": (
                dave,
                await dave.subscribe(MESSAGES, account_filter(tenants, BOB_WHATSAPP)),
            ),
            "dave messages of bob's conversation": (
                dave,
                await dave.subscribe(MESSAGES, conversation_filter(bob_conversation)),
            ),
            "dave messages of his account and bob's chat": (
                dave,
                await dave.subscribe(
                    MESSAGES, conversation_filter(conversation_gid(dave_pk, bob_chat))
                ),
            ),
            "bob messages of alice's account": (
                bob,
                await bob.subscribe(MESSAGES, account_filter(tenants, ALICE_GMAIL)),
            ),
            "bob updates of alice's account": (
                bob,
                await bob.subscribe(UPDATES, account_filter(tenants, ALICE_GMAIL)),
            ),
            "bob messages of the LinkedIn and alice's thread": (
                bob,
                await bob.subscribe(
                    MESSAGES, conversation_filter(conversation_gid(linkedin_pk, alice_thread))
                ),
            ),
        }
        # Subscriptions that receive their own tenant's events, and only those.
        own = {
            "carol messages": (carol, await carol.subscribe(MESSAGES), carol_thread),
            "carol messages of email and WhatsApp": (
                carol,
                await carol.subscribe(MESSAGES, {"filter": {"channels": ["EMAIL", "WHATSAPP"]}}),
                carol_thread,
            ),
            "carol updates": (carol, await carol.subscribe(UPDATES), carol_thread),
            "carol statuses": (carol, await carol.subscribe(STATUSES), CAROL_GMAIL),
            "dave messages": (dave, await dave.subscribe(MESSAGES), dave_chat),
        }
        mixed = await carol.subscribe(
            MESSAGES, account_filter(tenants, ALICE_GMAIL, BOB_WHATSAPP, CAROL_GMAIL)
        )
        await alice.drain(0.5)

        # The other tenant's events, each seen by its owner first.
        await post(
            tenants, {"account_id": ALICE_GMAIL, "thread_id": alice_thread, "text": secrets[0]}
        )
        await alice.wait_for(controls["alice messages"][1])
        await post(tenants, {"account_id": BOB_WHATSAPP, "chat_id": bob_chat, "text": secrets[1]})
        await bob.wait_for(controls["bob messages"][1])
        read = await tenants.query(READ, {"id": alice_conversation, "read": False}, user="alice")
        assert read["data"]["markConversationRead"]["error"] is None, read
        await alice.wait_for(controls["alice updates"][1])
        await set_status(tenants, ALICE_GMAIL, "ERROR")
        await alice.wait_for(controls["alice statuses"][1])
        await set_status(tenants, ALICE_GMAIL, "OK")
        await alice.wait_for(controls["alice statuses"][1], count=2)

        # Then the rival tenant's own: their subscriptions work.
        await post(
            tenants, {"account_id": CAROL_GMAIL, "thread_id": carol_thread, "text": "for carol"}
        )
        await post(tenants, {"account_id": DAVE_WHATSAPP, "chat_id": dave_chat, "text": "for dave"})
        await carol.wait_for(own["carol messages"][1])
        await dave.wait_for(own["dave messages"][1])
        read = await tenants.query(READ, {"id": carol_conversation, "read": False}, user="carol")
        assert read["data"]["markConversationRead"]["error"] is None, read
        await carol.wait_for(own["carol updates"][1])
        await set_status(tenants, CAROL_GMAIL, "ERROR")
        await carol.wait_for(own["carol statuses"][1])
        await asyncio.gather(*(socket.drain(1.0) for socket in (alice, bob, carol, dave)))

        failures = []
        stats = await tenants.route_stats()
        if unexpected := set(stats) - READ_ROUTES - {"PUT /api/v1/emails/{email_id}"}:
            failures.append(f"unexpected UniPile calls: {sorted(unexpected)}")
        for label, (socket, sid) in controls.items():
            if not data_of(socket, sid):
                failures.append(f"control: {label} received nothing")
        for label, (socket, sid) in silent.items():
            if events := data_of(socket, sid):
                failures.append(f"{label} received {events}")
        for label, (socket, sid, own_id) in own.items():
            events = data_of(socket, sid)
            if not events:
                failures.append(f"control: {label} received nothing")
            if external_ids(events) - {own_id}:
                failures.append(f"{label} received others' events: {events}")
        mixed_events = data_of(carol, mixed)
        if external_ids(mixed_events) - {carol_thread}:
            failures.append(f"carol messages of three accounts received {mixed_events}")
        for socket, secret in (
            (carol, DEMO_MARKERS),
            (dave, DEMO_MARKERS),
            (bob, ALICE_PRIVATE_MARKERS),
        ):
            for sid, payloads in socket.received.items():
                texts = secrets if socket is not bob else secrets[:1]
                if found := leaked(payloads, secret, texts):
                    failures.append(f"{sid} of a rival socket showed {sorted(found)[:5]}")
        assert not failures, "\n".join(failures)
