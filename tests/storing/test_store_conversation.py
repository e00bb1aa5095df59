"""Storing conversations from a real sandbox into SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest

from core.vocabulary import Direction, ParticipantRole, StorageReason
from crm.storage import SyncLimits
from db.models import Account, Conversation, ConversationParticipant, Message
from inbox.messages import stored_record
from inbox.records import (
    MessageRecord,
    ParticipantRecord,
    attendee_participants,
    conversation_from_chat,
    conversation_from_thread,
    message_from_chat_message,
    message_from_email,
)
from storing.copies import StoreResult, append_message, store_conversation, stronger_reason
from tests.storing.conftest import Sandbox, demo_chat, demo_thread
from unipile import NotFoundError, UnipileClient
from unipile.sandbox.demo import ANCHOR

REASON = StorageReason.MANUAL_STORE
EVERYTHING = SyncLimits(max_conversations=1, max_messages_per_conversation=1000, days_back=3650)


async def live_chat(
    client: UnipileClient, account: Account, chat_id: str
) -> tuple[tuple[ParticipantRecord, ...], list[MessageRecord]]:
    """A chat's participants and messages as the live inbox shows them."""
    record = conversation_from_chat(account, await client.get_chat(chat_id))
    participants = record.participants or attendee_participants(
        account, (await client.list_chat_attendees(chat_id)).items
    )
    names = {p.identifier: p.display_name for p in participants}
    messages = (await client.list_chat_messages(chat_id, limit=250)).items
    return participants, [
        message_from_chat_message(account, m, names.get(m.sender_id)) for m in messages
    ]


async def stored_messages(conversation_id: int) -> list[MessageRecord]:
    conversation = await Conversation.get(id=conversation_id)
    rows = await Message.filter(conversation_id=conversation_id).order_by("-sent_at", "-id")
    return [stored_record(row, conversation.account_id, conversation.external_id) for row in rows]


async def stored_participants(conversation_id: int) -> set[ParticipantRecord]:
    rows = await ConversationParticipant.filter(conversation_id=conversation_id)
    return {
        ParticipantRecord(
            row.identifier, row.identifier_type, row.display_name, row.role, row.is_self
        )
        for row in rows
    }


async def test_a_whatsapp_chat_is_stored_as_it_is_shown_live(
    client: UnipileClient, whatsapp: Account
) -> None:
    chat_id = demo_chat(group=False)
    result = await store_conversation(client, whatsapp, chat_id, REASON, now=ANCHOR)
    participants, live = await live_chat(client, whatsapp, chat_id)
    assert (result.added, result.total) == (len(live), len(live))
    assert await stored_messages(result.conversation_id) == live
    assert await stored_participants(result.conversation_id) == set(participants)
    assert {p.is_self for p in participants} == {True, False}
    conversation = await Conversation.get(id=result.conversation_id)
    chat = await client.get_chat(chat_id)
    assert (conversation.workspace_id, conversation.channel) == (
        whatsapp.workspace_id,
        whatsapp.channel,
    )
    assert (conversation.last_message_at, conversation.unread_count) == (
        chat.timestamp,
        chat.unread_count,
    )
    assert (conversation.subject, conversation.is_group) == (chat.subject or chat.name, False)
    assert conversation.storage_reason is REASON


async def test_a_group_chat_stores_its_members_and_names_its_senders(
    client: UnipileClient, whatsapp: Account
) -> None:
    chat_id = demo_chat(group=True)
    result = await store_conversation(client, whatsapp, chat_id, REASON, now=ANCHOR)
    participants, live = await live_chat(client, whatsapp, chat_id)
    assert len(participants) > 2
    assert await stored_participants(result.conversation_id) == set(participants)
    stored = await stored_messages(result.conversation_id)
    assert stored == live and len(stored) == result.total
    assert all(m.sender.display_name for m in stored)
    assert (await Conversation.get(id=result.conversation_id)).is_group


async def test_an_email_thread_is_stored_with_its_recipients_and_bodies(
    client: UnipileClient, gmail: Account
) -> None:
    thread_id = demo_thread()
    result = await store_conversation(client, gmail, thread_id, REASON, now=ANCHOR)
    emails = (await client.list_emails(account_id=gmail.unipile_id, thread_id=thread_id)).items
    live = [message_from_email(gmail, email) for email in emails]
    stored = await stored_messages(result.conversation_id)
    assert stored == live and result.total == len(emails) >= 3
    assert all(m.to and m.html for m in stored)
    assert {m.direction for m in stored} <= {Direction.INBOUND, Direction.OUTBOUND}
    record = conversation_from_thread(gmail, emails)
    assert await stored_participants(result.conversation_id) == set(record.participants or ())
    assert ParticipantRole.FROM in {p.role for p in record.participants or ()}
    conversation = await Conversation.get(id=result.conversation_id)
    assert (conversation.subject, conversation.last_message_at, conversation.unread_count) == (
        record.subject,
        record.last_message_at,
        record.unread_count,
    )


async def test_only_the_newest_messages_within_the_limit_are_stored(
    client: UnipileClient, whatsapp: Account
) -> None:
    chat_id = demo_chat(group=True, min_messages=12)
    _, live = await live_chat(client, whatsapp, chat_id)
    limits = SyncLimits(max_conversations=1, max_messages_per_conversation=7, days_back=3650)
    # Pages of 3 make the call page through the history: 3 + 3 + 1 of the newest.
    result = await store_conversation(client, whatsapp, chat_id, REASON, limits=limits, page_size=3)
    stored = await stored_messages(result.conversation_id)
    assert (result.added, result.total) == (7, 7)
    assert [m.external_id for m in stored] == [m.external_id for m in live[:7]]


async def conversation_of(kind: str, whatsapp: Account, gmail: Account) -> tuple[Account, str]:
    if kind == "chat":
        return whatsapp, demo_chat(group=True, min_messages=12)
    return gmail, demo_thread()


@pytest.mark.parametrize("kind", ["chat", "thread"])
async def test_messages_older_than_the_window_are_left_out(
    client: UnipileClient, whatsapp: Account, gmail: Account, kind: str
) -> None:
    account, external_id = await conversation_of(kind, whatsapp, gmail)
    everything = await store_conversation(client, account, external_id, REASON, limits=EVERYTHING)
    history = await stored_messages(everything.conversation_id)
    await Conversation.filter(id=everything.conversation_id).delete()
    # A one-day window that starts just before the middle message (`after` is exclusive).
    middle = len(history) // 2
    limits = SyncLimits(max_conversations=1, max_messages_per_conversation=100, days_back=1)
    now = history[middle].sent_at + timedelta(days=1, seconds=-1)
    recent = await store_conversation(client, account, external_id, REASON, now=now, limits=limits)
    kept = [m.external_id for m in history if m.sent_at > now - timedelta(days=1)]
    assert [m.external_id for m in await stored_messages(recent.conversation_id)] == kept
    assert middle < len(kept) < len(history)


@pytest.mark.parametrize("kind", ["chat", "thread"])
async def test_a_conversation_quiet_for_longer_than_the_window_is_stored_without_messages(
    client: UnipileClient, whatsapp: Account, gmail: Account, kind: str
) -> None:
    account, external_id = await conversation_of(kind, whatsapp, gmail)
    result = await store_conversation(
        client, account, external_id, REASON, now=ANCHOR + timedelta(days=365)
    )
    assert (result.added, result.total) == (0, 0)
    conversation = await Conversation.get(id=result.conversation_id)
    assert conversation.last_message_at is not None and conversation.last_message_at < ANCHOR
    assert await ConversationParticipant.filter(conversation_id=result.conversation_id).count()


async def test_an_unknown_conversation_is_not_found_and_nothing_is_stored(
    client: UnipileClient, whatsapp: Account, gmail: Account
) -> None:
    with pytest.raises(NotFoundError):
        await store_conversation(client, whatsapp, "no-such-chat", REASON)
    with pytest.raises(NotFoundError):
        await store_conversation(client, gmail, "no-such-thread", REASON)
    with pytest.raises(NotFoundError):  # another account's chat
        await store_conversation(client, gmail, demo_chat(group=False), REASON)
    assert await Conversation.all().count() == 0


async def test_storing_again_adds_only_new_messages(
    client: UnipileClient, sandbox: Sandbox, whatsapp: Account
) -> None:
    chat_id = demo_chat(group=False)
    first = await store_conversation(client, whatsapp, chat_id, REASON, now=ANCHOR)
    again = await store_conversation(client, whatsapp, chat_id, REASON, now=ANCHOR)
    assert (again.conversation_id, again.added, again.total) == (
        first.conversation_id,
        0,
        first.total,
    )
    posted = await sandbox.post(
        "/_sandbox/messages",
        {"account_id": whatsapp.unipile_id, "chat_id": chat_id, "text": "new since"},
    )
    third = await store_conversation(client, whatsapp, chat_id, REASON, now=ANCHOR)
    assert (third.added, third.total) == (1, first.total + 1)
    stored = await stored_messages(first.conversation_id)
    assert stored[0].external_id == posted["id"] and stored[0].text == "new since"
    _, live = await live_chat(client, whatsapp, chat_id)
    assert stored == live
    conversation = await Conversation.get(id=first.conversation_id)
    assert conversation.last_message_at == stored[0].sent_at
    assert await Conversation.all().count() == 1
    assert await ConversationParticipant.filter(conversation_id=first.conversation_id).count() == 2


@pytest.mark.parametrize("kind", ["chat", "thread"])
async def test_concurrent_stores_make_one_copy(
    client: UnipileClient, whatsapp: Account, gmail: Account, kind: str
) -> None:
    account, external_id = await conversation_of(kind, whatsapp, gmail)

    async def store_four_times_at_once() -> list[StoreResult]:
        return await asyncio.gather(
            *(
                store_conversation(client, account, external_id, REASON, now=ANCHOR)
                for _ in range(4)
            )
        )

    async def assert_one_copy(results: list[StoreResult]) -> None:
        assert len({result.conversation_id for result in results}) == 1
        assert sum(result.added for result in results) == results[0].total > 0
        assert await Conversation.all().count() == 1
        ids = await Message.all().values_list("external_id", flat=True)
        assert len(ids) == results[0].total and Counter(ids).most_common(1)[0][1] == 1

    # Creating the copy: the conversation row's insert makes the others wait.
    await assert_one_copy(await store_four_times_at_once())
    # Adding to an existing copy: the row lock makes them wait.
    await Message.all().delete()
    await assert_one_copy(await store_four_times_at_once())


async def test_a_store_never_weakens_the_reason(client: UnipileClient, whatsapp: Account) -> None:
    chat_id = demo_chat(group=False)
    reasons = []
    for reason in (
        StorageReason.COMPANY_MATCH,
        StorageReason.CONTACT_MATCH,
        StorageReason.MANUAL_STORE,
        StorageReason.CONTACT_MATCH,
    ):
        result = await store_conversation(client, whatsapp, chat_id, reason, now=ANCHOR)
        reasons.append((await Conversation.get(id=result.conversation_id)).storage_reason)
    assert reasons == [
        StorageReason.COMPANY_MATCH,
        StorageReason.CONTACT_MATCH,
        StorageReason.MANUAL_STORE,
        StorageReason.MANUAL_STORE,
    ]
    assert (
        stronger_reason(StorageReason.NONE, StorageReason.MANUAL_LINK) is StorageReason.MANUAL_LINK
    )


@pytest.mark.parametrize("reason", list(StorageReason))
def test_every_reason_has_a_strength_between_none_and_a_users_link(reason: StorageReason) -> None:
    """A reason the ranking left out would fail every store made for it (RULE once did)."""
    assert stronger_reason(reason, reason) is reason
    assert stronger_reason(StorageReason.NONE, reason) is reason
    assert stronger_reason(reason, StorageReason.MANUAL_LINK) is StorageReason.MANUAL_LINK


async def test_a_new_message_is_appended_once_to_a_stored_conversation(
    client: UnipileClient, sandbox: Sandbox, whatsapp: Account
) -> None:
    chat_id = demo_chat(group=False)
    posted = await sandbox.post(
        "/_sandbox/messages",
        {"account_id": whatsapp.unipile_id, "chat_id": chat_id, "text": "hello"},
    )
    participants, _ = await live_chat(client, whatsapp, chat_id)
    names = {p.identifier: p.display_name for p in participants}
    message = await client.get_message(posted["id"])
    record = message_from_chat_message(whatsapp, message, names.get(message.sender_id))
    assert not await append_message(whatsapp, record)  # not stored: nothing to append to
    assert await Conversation.all().count() == 0

    stored = await store_conversation(client, whatsapp, chat_id, REASON, now=ANCHOR)
    await Message.filter(
        conversation_id=stored.conversation_id, external_id=record.external_id
    ).delete()
    await Conversation.filter(id=stored.conversation_id).update(unread_count=0)
    assert await append_message(whatsapp, record)
    assert not await append_message(whatsapp, record)
    messages = await stored_messages(stored.conversation_id)
    assert len(messages) == stored.total and messages[0] == record
    conversation = await Conversation.get(id=stored.conversation_id)
    assert conversation.last_message_at == record.sent_at
    assert conversation.unread_count == (0 if record.is_read else 1)
