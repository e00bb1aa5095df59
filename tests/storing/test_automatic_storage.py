"""A new contact makes the live conversations it appears in report `shouldStore`, and email ones
are then stored by the job queue, off the request path."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from core.vocabulary import JobState
from db.models import Conversation, StorageSweep, StoreJob
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


FORGET = (
    "mutation($input: ForgetConversationInput!) { forgetConversation(input: $input) { forgotten "
    "error { code } } }"
)
STORE = (
    "mutation($input: ConversationInput!) { storeConversation(input: $input) { conversation { "
    "storage { stored reason } } error { code } } }"
)


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    for _ in range(int(within / 0.1)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{check.__name__} still false after {within} s")


async def queue_drained() -> bool:
    return not await StoreJob.filter(state=JobState.PENDING).exists()


async def sweeps_done() -> bool:
    """No sweep (of a rule change) waits or runs; the storage it queued may."""
    return not await StorageSweep.filter(state=JobState.PENDING).exists()


async def test_a_forgotten_conversation_is_not_stored_again_until_a_user_stores_it(
    inbox: Inbox,
) -> None:
    shown = {node["externalId"]: node for node in await page(inbox)}

    async def one_stored() -> bool:
        return await Conversation.filter(external_id__in=list(shown)).exists()

    await eventually(one_stored)
    stored = await Conversation.filter(external_id__in=list(shown)).order_by("id").first()
    assert stored is not None and stored.storage_reason in ("CONTACT_MATCH", "COMPANY_MATCH")
    thread = stored.external_id

    async def its_job_done() -> bool:
        return await StoreJob.filter(external_id=thread, state=JobState.DONE).exists()

    await eventually(its_job_done)
    forgotten = await inbox.query(FORGET, {"input": {"conversationId": shown[thread]["id"]}})
    assert forgotten["data"]["forgetConversation"] == {"forgotten": True, "error": None}
    assert not await Conversation.exists(external_id=thread)

    for _ in range(3):  # each read sees it again, matched, and asks for it to be stored
        again = {node["externalId"]: node for node in await page(inbox)}
        assert again[thread]["storage"]["stored"] is False
    await eventually(queue_drained)
    await asyncio.sleep(0.5)
    assert not await Conversation.exists(external_id=thread)
    job = await StoreJob.get(external_id=thread)
    assert job.state is JobState.DONE and job.forgotten_at is not None

    # A user asks: it is stored again, as theirs.
    result = await inbox.query(STORE, {"input": {"conversationId": shown[thread]["id"]}})
    assert result["data"]["storeConversation"] == {
        "conversation": {"storage": {"stored": True, "reason": "MANUAL_STORE"}},
        "error": None,
    }
    assert await Conversation.filter(external_id=thread).count() == 1


async def test_reading_a_page_again_and_again_queues_each_conversation_once(inbox: Inbox) -> None:
    reads = await asyncio.gather(*(page(inbox) for _ in range(8)))
    for _ in range(8):
        reads.append(await page(inbox))
    wanted = {
        node["externalId"]
        for node in reads[0]
        if node["storage"]["shouldStore"] and not node["storage"]["stored"]
    }
    assert len(wanted) >= 3
    await eventually(queue_drained)
    jobs = await StoreJob.all()
    assert {job.external_id for job in jobs} == wanted
    # Armed once each: one write per conversation, however many reads saw it pending.
    assert [job.generation for job in jobs] == [1] * len(jobs)
    assert {job.state for job in jobs} == {JobState.DONE}
    assert await Conversation.filter(external_id__in=list(wanted)).count() == len(wanted)
