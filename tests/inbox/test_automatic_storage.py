"""A new contact makes the live conversations it appears in report `shouldStore`, and email ones
are then stored by the job queue, off the request path."""

from __future__ import annotations

import asyncio
from typing import Any

from db.models import Conversation, StoreJob
from tests.inbox.conftest import Inbox

PAGE = """{ conversations(first: 50, filter: {channels: [EMAIL]}) { edges { node {
  id externalId storage { stored shouldStore reason }
  participants { identifier isSelf crmMatch { candidates { id } } } } } } }"""
CREATE = (
    "mutation($input: CreateContactInput!) { createContact(input: $input) { contact { id } error "
    "{ code } } }"
)


async def page(inbox: Inbox) -> list[dict[str, Any]]:
    result = await inbox.query(PAGE)
    assert "errors" not in result, result["errors"]
    return [edge["node"] for edge in result["data"]["conversations"]["edges"]]


def unknown_person(conversations: list[dict[str, Any]]) -> tuple[str, str]:
    for conversation in conversations:
        if conversation["storage"]["reason"] != "NONE":
            continue
        for person in conversation["participants"]:
            if not person["isSelf"] and person["crmMatch"] and not person["crmMatch"]["candidates"]:
                return conversation["externalId"], person["identifier"]
    raise AssertionError("the demo inbox has unmatched email participants")


async def test_a_new_contact_makes_its_conversations_stored(inbox: Inbox) -> None:
    before = await page(inbox)
    thread, address = unknown_person(before)
    created = await inbox.query(
        CREATE, {"input": {"firstName": "New", "lastName": "Contact", "emails": [address.upper()]}}
    )
    assert created["data"]["createContact"]["error"] is None

    after = {node["externalId"]: node for node in await page(inbox)}
    assert after[thread]["storage"]["shouldStore"] is True
    assert after[thread]["storage"]["reason"] == "CONTACT_MATCH"

    for _ in range(100):
        if await Conversation.exists(external_id=thread):
            break
        await asyncio.sleep(0.1)
    stored = await Conversation.get(external_id=thread)
    assert stored.storage_reason == "CONTACT_MATCH"
    assert await StoreJob.filter(external_id=thread).count() == 1
    final = {node["externalId"]: node for node in await page(inbox)}
    assert final[thread]["storage"] == {
        "stored": True,
        "shouldStore": True,
        "reason": "CONTACT_MATCH",
    }
