"""createContactFromParticipant, and live conversations matching a new contact on the next read."""

from __future__ import annotations

from typing import Any

from core.ids import from_global_id, to_global_id
from tests.crm_mutations.graphql import CREATE_CONTACT, FROM_PARTICIPANT, fail, succeed
from tests.inbox.conftest import Inbox

CONVERSATIONS = """
query($after: String) {
  conversations(first: 100, after: $after) {
    edges { node {
      id channel isGroup
      storage { shouldStore reason }
      participants { identifier displayName isSelf emailAddress phoneNumber
        crmMatch { contact { id } candidates { id } } }
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def conversations(inbox: Inbox, user: str = "alice") -> list[dict[str, Any]]:
    """Every conversation of the user's inbox, read live."""
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        result = await inbox.query(CONVERSATIONS, {"after": after}, user=user)
        assert "errors" not in result, result["errors"]
        connection = result["data"]["conversations"]
        nodes += [edge["node"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            return nodes
        after = connection["pageInfo"]["endCursor"]


def unmatched(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The people of a conversation the CRM does not know."""
    return [
        p
        for p in node["participants"]
        if not p["isSelf"] and not (p["crmMatch"] and p["crmMatch"]["candidates"])
    ]


def unstored_with_stranger(
    nodes: list[dict[str, Any]], channel: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A conversation no rule stores today, and a participant of it the CRM does not know."""
    for node in nodes:
        if (
            node["channel"] == channel
            and not node["isGroup"]
            and not node["storage"]["shouldStore"]
        ):
            strangers = unmatched(node)
            if strangers:
                return node, strangers[0]
    raise LookupError(f"no unmatched {channel} conversation in the demo")


def find(nodes: list[dict[str, Any]], conversation_id: str) -> dict[str, Any]:
    return next(node for node in nodes if node["id"] == conversation_id)


async def test_a_new_contact_makes_its_live_conversations_report_should_store(
    inbox: Inbox,
) -> None:
    conversation, stranger = unstored_with_stranger(await conversations(inbox), "EMAIL")
    assert conversation["storage"] == {"shouldStore": False, "reason": "NONE"}
    address = stranger["emailAddress"]
    assert address

    contact = (
        await succeed(
            inbox,
            CREATE_CONTACT,
            {"firstName": "New", "lastName": "Contact", "emails": [address]},
        )
    )["contact"]

    now = find(await conversations(inbox), conversation["id"])
    assert now["storage"] == {"shouldStore": True, "reason": "CONTACT_MATCH"}
    [person] = [p for p in now["participants"] if p["identifier"] == stranger["identifier"]]
    assert person["crmMatch"]["contact"]["id"] == contact["id"]


async def test_a_contact_from_a_linkedin_participant_takes_its_provider_id_and_name(
    inbox: Inbox,
) -> None:
    conversation, stranger = unstored_with_stranger(await conversations(inbox), "LINKEDIN")
    contact = (
        await succeed(
            inbox,
            FROM_PARTICIPANT,
            {"conversationId": conversation["id"], "identifier": stranger["identifier"]},
        )
    )["contact"]
    assert contact["providerIds"] == [
        {"value": stranger["identifier"], "original": stranger["identifier"]}
    ]
    first, _, last = stranger["displayName"].partition(" ")
    assert (contact["firstName"], contact["lastName"]) == (first, last)
    now = find(await conversations(inbox), conversation["id"])
    assert now["storage"] == {"shouldStore": True, "reason": "CONTACT_MATCH"}


async def test_a_whatsapp_participant_becomes_a_phone_number(inbox: Inbox) -> None:
    conversation, stranger = unstored_with_stranger(await conversations(inbox, "bob"), "WHATSAPP")
    company = (await inbox.query("{ companies(first: 1) { edges { node { id } } } }", user="bob"))[
        "data"
    ]["companies"]["edges"][0]["node"]["id"]
    contact = (
        await succeed(
            inbox,
            FROM_PARTICIPANT,
            {
                "conversationId": conversation["id"],
                "identifier": stranger["identifier"],
                "name": "Jean de La Fontaine",
                "companyId": company,
            },
            user="bob",
        )
    )["contact"]
    assert contact["phones"] == [
        {"value": stranger["phoneNumber"], "original": stranger["phoneNumber"]}
    ]
    assert (contact["firstName"], contact["lastName"]) == ("Jean", "de La Fontaine")
    assert contact["company"]["id"] == company


async def test_the_identifier_must_be_a_participant_of_a_visible_conversation(
    inbox: Inbox,
) -> None:
    alice_nodes = await conversations(inbox)
    conversation, stranger = unstored_with_stranger(alice_nodes, "EMAIL")
    [own] = [p for p in conversation["participants"] if p["isSelf"]]
    for identifier in ("nobody@example.org", own["identifier"]):
        error = await fail(
            inbox,
            FROM_PARTICIPANT,
            {"conversationId": conversation["id"], "identifier": identifier},
        )
        assert (error["code"], error["field"]) == ("BAD_USER_INPUT", "identifier")
    bob_chat, bob_stranger = unstored_with_stranger(await conversations(inbox, "bob"), "WHATSAPP")
    account_id = from_global_id(conversation["id"])[1].partition(":")[0]
    missing = to_global_id("Conversation", f"{account_id}:no-such-thread")
    for conversation_id, identifier in (
        (bob_chat["id"], bob_stranger["identifier"]),  # bob's private WhatsApp
        (missing, stranger["identifier"]),
        (to_global_id("Conversation", "garbage"), stranger["identifier"]),
    ):
        error = await fail(
            inbox,
            FROM_PARTICIPANT,
            {"conversationId": conversation_id, "identifier": identifier},
        )
        assert (error["code"], error["field"]) == ("NOT_FOUND", "conversationId")
