from __future__ import annotations

from typing import Any

from db.models import Message, OutboundMessage
from tests.inbox.conftest import Inbox
from tests.storing.test_conversation_mutations import STORE, conversations, mutate

SEND = (
    "mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { id externalId "
    "text direction sender { isSelf } } error { code field } } }"
)
REPLY = (
    "mutation($input: ReplyToConversationInput!) { replyToConversation(input: $input) { message {"
    " id externalId html direction recipients { identifier role } } error { code field } } }"
)


async def upstream_sends(inbox: Inbox) -> dict[str, Any]:
    stats: dict[str, Any] = (await inbox.upstream_stats())["requests"]
    return stats


async def test_a_retried_send_sends_once(inbox: Inbox) -> None:
    chat = (await conversations(inbox, filter={"channels": ["LINKEDIN"]}))[0]
    await inbox.upstream_stats()
    input = {"conversationId": chat["id"], "text": "See you Monday", "idempotencyKey": "k-1"}
    first = await mutate(inbox, SEND, input)
    second = await mutate(inbox, SEND, input)
    assert first["error"] is None and first["message"]["text"] == "See you Monday"
    assert first["message"]["direction"] == "OUTBOUND" and first["message"]["sender"]["isSelf"]
    assert second["message"]["externalId"] == first["message"]["externalId"]
    stats = await upstream_sends(inbox)
    assert stats.get("POST /api/v1/chats/{chat_id}/messages") == 1
    assert await OutboundMessage.filter(idempotency_key="k-1").count() == 1


async def test_a_sent_message_joins_the_stored_copy(inbox: Inbox) -> None:
    chat = (await conversations(inbox, filter={"channels": ["LINKEDIN"]}))[1]
    await mutate(inbox, STORE, {"conversationId": chat["id"]})
    sent = await mutate(inbox, SEND, {"conversationId": chat["id"], "text": "stored too"})
    assert await Message.exists(
        external_id=sent["message"]["externalId"], conversation__external_id=chat["externalId"]
    )


async def test_a_reply_goes_to_all_in_the_thread(inbox: Inbox) -> None:
    thread = (await conversations(inbox, filter={"channels": ["EMAIL"]}))[0]
    reply = await mutate(
        inbox,
        REPLY,
        {
            "conversationId": thread["id"],
            "html": "<p>Thanks</p>",
            "cc": ["boss@example.org"],
            "idempotencyKey": "r-1",
        },
    )
    assert reply["error"] is None
    assert reply["message"]["html"] == "<p>Thanks</p>"
    assert reply["message"]["direction"] == "OUTBOUND"
    roles = {(r["identifier"], r["role"]) for r in reply["message"]["recipients"]}
    assert ("boss@example.org", "CC") in roles
    assert any(role == "TO" for _, role in roles)
    page = await inbox.query(
        (
            "query($id: ID!) { node(id: $id) { ... on Conversation { messages(first: 1) { edges {"
            " node { externalId } } } } } }"
        ),
        {"id": thread["id"]},
    )
    assert (
        page["data"]["node"]["messages"]["edges"][0]["node"]["externalId"]
        == reply["message"]["externalId"]
    )


async def test_sending_checks_its_input(inbox: Inbox) -> None:
    chat = (await conversations(inbox, filter={"channels": ["LINKEDIN"]}))[0]
    thread = (await conversations(inbox, filter={"channels": ["EMAIL"]}))[0]
    empty = await mutate(inbox, SEND, {"conversationId": chat["id"], "text": "  "})
    assert empty["error"] == {"code": "BAD_USER_INPUT", "field": "text"}
    wrong_kind = await mutate(inbox, SEND, {"conversationId": thread["id"], "text": "hi"})
    assert wrong_kind["error"]["code"] == "BAD_USER_INPUT"
    bobs = (await conversations(inbox, user="bob", filter={"channels": ["WHATSAPP"]}))[0]
    not_yours = await mutate(inbox, SEND, {"conversationId": bobs["id"], "text": "hi"})
    assert not_yours["error"]["code"] == "NOT_FOUND"
    await mutate(inbox, SEND, {"conversationId": chat["id"], "text": "a", "idempotencyKey": "same"})
    reused = await mutate(
        inbox,
        SEND,
        {
            "conversationId": (await conversations(inbox, filter={"channels": ["LINKEDIN"]}))[2][
                "id"
            ],
            "text": "b",
            "idempotencyKey": "same",
        },
    )
    assert reused["error"] == {"code": "BAD_USER_INPUT", "field": "idempotencyKey"}


async def test_a_key_is_released_when_unipile_took_nothing(inbox: Inbox) -> None:
    chat = (await conversations(inbox, filter={"channels": ["LINKEDIN"]}))[0]
    account = "acc_linkedin_demo_0001"
    input = {"conversationId": chat["id"], "text": "Once", "idempotencyKey": "refused-1"}
    await inbox.sandbox_post("/_sandbox/faults", {"disconnected_accounts": [account]})
    refused = await mutate(inbox, SEND, input)
    assert refused["error"]["code"] == "ACCOUNT_DISCONNECTED"
    assert await OutboundMessage.filter(idempotency_key="refused-1").count() == 0
    await inbox.sandbox_post("/_sandbox/faults", {"disconnected_accounts": []})
    await inbox.upstream_stats()
    sent = await mutate(inbox, SEND, input)
    assert sent["error"] is None and sent["message"]["text"] == "Once"
    assert (await upstream_sends(inbox)).get("POST /api/v1/chats/{chat_id}/messages") == 1
