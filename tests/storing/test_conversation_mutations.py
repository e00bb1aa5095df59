from __future__ import annotations

from typing import Any

from core.ids import to_global_id
from db.models import Contact, Conversation, ConversationLink, Message, NeverStoreEntry
from tests.inbox.conftest import Inbox

FIELDS = (
    "conversationId messagesAdded conversation { id storage { stored shouldStore reason } links {"
    " target { name } source } unreadCount } error { code message field }"
)
LINK = (
    f"mutation($input: LinkConversationInput!) {{ linkConversation(input: $input) {{ {FIELDS} }} }}"
)
UNLINK = (
    f"mutation($input: LinkConversationInput!) {{ unlinkConversation(input: $input) {{ {FIELDS} }}"
    f" }}"
)
STORE = (
    f"mutation($input: ConversationInput!) {{ storeConversation(input: $input) {{ {FIELDS} }} }}"
)
STORE_MANY = (
    f"mutation($input: ConversationsInput!) {{ storeConversations(input: $input) {{ results {{ "
    f"{FIELDS} }} error {{ code }} }} }}"
)
FORGET = (
    "mutation($input: ForgetConversationInput!) { forgetConversation(input: $input) { forgotten "
    "error { code field } } }"
)
READ = (
    f"mutation($input: MarkConversationReadInput!) {{ markConversationRead(input: $input) {{ "
    f"{FIELDS} }} }}"
)
FORGET_IDENTIFIER = (
    "mutation($input: ForgetIdentifierInput!) { forgetIdentifier(input: $input) { messagesDeleted"
    " error { code } } }"
)


async def conversations(
    inbox: Inbox, user: str = "alice", filter: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    result = await inbox.query(
        (
            "query($f: ConversationFilter) { conversations(first: 40, filter: $f) { edges { node "
            "{ id externalId isGroup unreadCount channel storage { stored } } } } }"
        ),
        {"f": filter},
        user=user,
    )
    return [edge["node"] for edge in result["data"]["conversations"]["edges"]]


async def mutate(
    inbox: Inbox, mutation: str, input: dict[str, Any], user: str = "alice"
) -> dict[str, Any]:
    result = await inbox.query(mutation, {"input": input}, user=user)
    assert "errors" not in result, result["errors"]
    payload: dict[str, Any] = next(iter(result["data"].values()))
    return payload


async def a_contact_id() -> str:
    contact = await Contact.filter(first_name="Jane", last_name="Doe").first()
    assert contact is not None
    return to_global_id("Contact", contact.id)


async def test_linking_stores_and_is_idempotent(inbox: Inbox) -> None:
    target = (await conversations(inbox, filter={"channels": ["LINKEDIN"]}))[0]
    contact = await a_contact_id()
    first = await mutate(inbox, LINK, {"conversationId": target["id"], "contactId": contact})
    again = await mutate(inbox, LINK, {"conversationId": target["id"], "contactId": contact})
    assert first["error"] is None and again["error"] is None
    assert first["conversation"]["storage"] == {
        "stored": True,
        "shouldStore": True,
        "reason": "MANUAL_LINK",
    }
    assert first["conversation"]["links"] == [{"target": {"name": "Jane Doe"}, "source": "USER"}]
    assert await Conversation.filter(external_id=target["externalId"]).count() == 1
    assert await ConversationLink.filter(conversation_external_id=target["externalId"]).count() == 1
    messages = await Message.filter(conversation__external_id=target["externalId"]).count()
    assert messages > 0
    assert (
        len(
            {
                m.external_id
                for m in await Message.filter(conversation__external_id=target["externalId"])
            }
        )
        == messages
    )


async def test_unlinking_leaves_a_tombstone_and_the_copy(inbox: Inbox) -> None:
    target = (await conversations(inbox, filter={"channels": ["LINKEDIN"]}))[1]
    contact = await a_contact_id()
    await mutate(inbox, LINK, {"conversationId": target["id"], "contactId": contact})
    unlinked = await mutate(inbox, UNLINK, {"conversationId": target["id"], "contactId": contact})
    assert unlinked["error"] is None
    assert unlinked["conversation"]["links"] == []
    assert unlinked["conversation"]["storage"]["stored"] is True
    link = await ConversationLink.get(conversation_external_id=target["externalId"])
    assert link.removed_at is not None


async def test_storing_twice_stores_once(inbox: Inbox) -> None:
    target = (await conversations(inbox, filter={"channels": ["EMAIL"]}))[0]
    first = await mutate(inbox, STORE, {"conversationId": target["id"]})
    second = await mutate(inbox, STORE, {"conversationId": target["id"]})
    assert first["messagesAdded"] > 0 and second["messagesAdded"] == 0
    assert first["conversation"]["storage"]["stored"] is True
    assert await Conversation.filter(external_id=target["externalId"]).count() == 1


async def test_bulk_store_reports_each_item(inbox: Inbox) -> None:
    targets = [c["id"] for c in (await conversations(inbox))[:3]]
    payload = await mutate(inbox, STORE_MANY, {"conversationIds": [*targets, "bm9wZQ=="]})
    assert [r["error"] for r in payload["results"][:3]] == [None, None, None]
    assert payload["results"][3]["error"]["code"] in {"NOT_FOUND", "BAD_USER_INPUT"}
    too_many = await mutate(inbox, STORE_MANY, {"conversationIds": targets * 40})
    assert too_many["error"]["code"] == "BAD_USER_INPUT"


async def test_another_users_conversation_is_not_found(inbox: Inbox) -> None:
    bobs = (await conversations(inbox, user="bob", filter={"channels": ["WHATSAPP"]}))[0]
    payload = await mutate(inbox, STORE, {"conversationId": bobs["id"]})
    assert payload["error"]["code"] == "NOT_FOUND"
    assert not await Conversation.exists(external_id=bobs["externalId"])


async def test_forgetting_a_linked_conversation_needs_unlink(inbox: Inbox) -> None:
    target = (await conversations(inbox, filter={"channels": ["LINKEDIN"]}))[2]
    await mutate(inbox, LINK, {"conversationId": target["id"], "contactId": await a_contact_id()})
    refused = await mutate(inbox, FORGET, {"conversationId": target["id"]})
    assert refused == {"forgotten": False, "error": {"code": "FORBIDDEN", "field": "unlink"}}
    assert await Conversation.exists(external_id=target["externalId"])
    done = await mutate(inbox, FORGET, {"conversationId": target["id"], "unlink": True})
    assert done == {"forgotten": True, "error": None}
    assert not await Conversation.exists(external_id=target["externalId"])


async def test_marking_read_goes_through_unipile(inbox: Inbox) -> None:
    unread = await conversations(inbox, filter={"unread": True, "channels": ["EMAIL"]})
    target = unread[0]
    payload = await mutate(inbox, READ, {"conversationId": target["id"], "read": True})
    assert payload["error"] is None
    assert payload["conversation"]["unreadCount"] == 0


async def test_forgetting_an_identifier_blocks_it(inbox: Inbox) -> None:
    payload = await mutate(inbox, FORGET_IDENTIFIER, {"identifier": "Jane.Doe@acme-corp.com"})
    assert payload["error"] is None
    assert await NeverStoreEntry.exists(value="jane.doe@acme-corp.com")
    bad = await mutate(inbox, FORGET_IDENTIFIER, {"identifier": "not an address"})
    assert bad["error"]["code"] == "BAD_USER_INPUT"


CONTACT_CONVERSATIONS = """query($id: ID!, $after: String) { node(id: $id) { ... on Contact {
  conversations(first: 1, after: $after) { edges { node { id storage { stored reason } } }
    pageInfo { hasNextPage endCursor } } } } }"""


async def test_a_contact_lists_its_linked_conversations(inbox: Inbox) -> None:
    contact = await a_contact_id()
    targets = (await conversations(inbox, filter={"channels": ["LINKEDIN"]}))[:2]
    for target in targets:
        await mutate(inbox, LINK, {"conversationId": target["id"], "contactId": contact})
    listed, after = [], None
    while True:
        page = (await inbox.query(CONTACT_CONVERSATIONS, {"id": contact, "after": after}))["data"][
            "node"
        ]["conversations"]
        listed.extend(edge["node"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert {node["id"] for node in listed} == {target["id"] for target in targets}
    assert all(node["storage"] == {"stored": True, "reason": "MANUAL_LINK"} for node in listed)
    await mutate(inbox, UNLINK, {"conversationId": targets[0]["id"], "contactId": contact})
    remaining = (await inbox.query(CONTACT_CONVERSATIONS, {"id": contact}))["data"]["node"][
        "conversations"
    ]["edges"]
    assert [edge["node"]["id"] for edge in remaining] == [targets[1]["id"]]
