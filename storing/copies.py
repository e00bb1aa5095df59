"""Copying a live conversation into the CRM database, and keeping the copy in sync.

A conversation is fetched from UniPile first, within its sync limits (those of the rule that
stored it, over its channel's: `crm.storage.sync_limits`), and written afterwards in one
transaction: no network call ever runs while the transaction holds locks.

The write locks the conversation's row (`SELECT ... FOR UPDATE` after an `INSERT ... ON CONFLICT
DO NOTHING`, so the row exists whichever caller came first), so two stores of one conversation, or
a store and an appended message, run one after the other on PostgreSQL. SQLite has no row locks
but runs one transaction at a time. Under the lock, messages already stored are skipped, so every
call is idempotent and the unique constraint on (conversation, external id) is never hit.

Stored rows hold exactly what `inbox.messages.stored_record` reads back: a stored message and
the live one are the same `MessageRecord`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from tortoise.transactions import in_transaction

from core.vocabulary import Channel, Direction, StorageReason
from crm.caching import Kept, bumped_after
from crm.storage import SyncLimits, sync_limits
from db.models import Account, Conversation, ConversationParticipant, Message
from db.text import storable
from inbox.records import (
    CONVERSATION_FIELDS,
    MESSAGE_FIELDS,
    ConversationRecord,
    MessageRecord,
    ParticipantRecord,
    attachment_to_json,
    attendee_participants,
    conversation_from_chat,
    conversation_from_thread,
    is_upstream_of,
    message_from_chat_message,
    message_from_email,
    participant_to_json,
    same_fields,
    thread_id_of,
)
from unipile import Email, NotFoundError, Page, UnipileClient

__all__ = ["PAGE_SIZE", "StoreResult", "append_message", "store_conversation", "stronger_reason"]

T = TypeVar("T")

PAGE_SIZE = 100
"""Messages asked for per UniPile request while paging through a history."""
DISPLAY_NAME_LENGTH = 200  # ConversationParticipant.display_name

# From weakest to strongest: a store never weakens why a conversation is kept, so a job storing a
# contact match does not undo a user's choice, and a user's store upgrades an automatic one.
_REASON_STRENGTH = (
    StorageReason.NONE,
    StorageReason.BLOCKED,
    StorageReason.RULE,
    StorageReason.COMPANY_MATCH,
    StorageReason.CONTACT_MATCH,
    StorageReason.MANUAL_STORE,
    StorageReason.MANUAL_LINK,
)


def stronger_reason(first: StorageReason, second: StorageReason) -> StorageReason:
    return max(first, second, key=_REASON_STRENGTH.index)


@dataclass(frozen=True, slots=True)
class StoreResult:
    conversation_id: int
    added: int
    """Messages this call stored."""
    total: int
    """Messages stored for the conversation now."""


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """What UniPile has of a conversation within the sync limits."""

    record: ConversationRecord
    participants: tuple[ParticipantRecord, ...]
    messages: tuple[MessageRecord, ...]


async def store_conversation(
    client: UnipileClient,
    account: Account,
    external_id: str,
    reason: StorageReason,
    *,
    now: datetime | None = None,
    limits: SyncLimits | None = None,
    page_size: int = PAGE_SIZE,
) -> StoreResult:
    """Store (or bring up to date) a chat or email thread of `account`, with its participants and
    its newest messages within `limits` (the channel's by default).

    Messages older than `limits.days_back` days before `now` (the current time by default) are
    left out: the window is anchored on the clock, not on the conversation's newest message, so a
    conversation quiet for longer than the window is stored without messages, and messages that
    arrive later are appended. Raises `unipile.NotFoundError` when the conversation does not
    exist or is not this account's, and any other `UnipileError` when UniPile fails; nothing is
    written then.
    """
    window = limits or sync_limits(account.channel)
    since = (now or datetime.now(UTC)) - timedelta(days=window.days_back)
    fetch = _fetch_thread if account.channel is Channel.EMAIL else _fetch_chat
    snapshot = await fetch(
        client, account, external_id, since, window.max_messages_per_conversation, page_size
    )
    return await _write(account, snapshot, reason)


async def append_message(account: Account, record: MessageRecord) -> bool:
    """Add a new message to its stored conversation; False when the conversation is not stored or
    already has the message. Moves the conversation's `last_message_at` forward, and counts an
    unread incoming message as unread, as UniPile does for the live conversation."""
    record = storable(record)
    async with in_transaction():
        conversation = await Conversation.select_for_update().get_or_none(
            account_id=account.id, external_id=record.conversation_external_id
        )
        if conversation is None:
            return False
        if await Message.exists(conversation_id=conversation.id, external_id=record.external_id):
            return False
        await Message.bulk_create([_message_row(conversation.id, record)])
        unread = record.direction is Direction.INBOUND and not record.is_read
        await Conversation.filter(id=conversation.id).update(
            last_message_at=_latest(conversation.last_message_at, record.sent_at),
            unread_count=conversation.unread_count + int(unread),
        )
    return True


# -- fetching ---------------------------------------------------------------------------------


async def _newest(
    fetch: Callable[[int | None, str | None], Awaitable[Page[T]]], limit: int, page_size: int
) -> list[T]:
    """Up to `limit` items of a newest-first listing, page after page."""
    items: list[T] = []
    cursor: str | None = None
    while len(items) < limit:
        # A cursor carries its listing's page size, as for the live message pages.
        page = await fetch(None if cursor else min(page_size, limit), cursor)
        items.extend(page.items)
        cursor = page.cursor
        if cursor is None or not page.items:
            break
    return items[:limit]


async def _fetch_chat(
    client: UnipileClient,
    account: Account,
    chat_id: str,
    since: datetime,
    limit: int,
    page_size: int,
) -> _Snapshot:
    chat = await client.get_chat(chat_id, account_id=account.unipile_id)
    if not is_upstream_of(account, chat.account_id):
        raise NotFoundError(f"chat {chat_id} is not one of account {account.id}'s", status=404)
    record = conversation_from_chat(account, chat)
    participants = record.participants
    if participants is None:
        participants = attendee_participants(
            account, (await client.list_chat_attendees(chat.id)).items
        )
    messages = await _newest(
        lambda size, cursor: client.list_chat_messages(
            chat.id, after=since, limit=size, cursor=cursor
        ),
        limit,
        page_size,
    )
    # Senders are named as the live message list names them: after the conversation's participants.
    names = {participant.identifier: participant.display_name for participant in participants}
    return _Snapshot(
        record,
        participants,
        tuple(
            message_from_chat_message(account, m, names.get(m.sender_id))
            for m in messages
            if is_upstream_of(account, m.account_id) and m.chat_id == chat.id
        ),
    )


async def _fetch_thread(
    client: UnipileClient,
    account: Account,
    thread_id: str,
    since: datetime,
    limit: int,
    page_size: int,
) -> _Snapshot:
    def listing(**query: Any) -> Awaitable[Page[Email]]:
        return client.list_emails(account_id=account.unipile_id, thread_id=thread_id, **query)

    def owned(found: Sequence[Email]) -> list[Email]:
        return [
            email
            for email in found
            if is_upstream_of(account, email.account_id) and thread_id_of(email) == thread_id
        ]

    emails = owned(
        await _newest(
            lambda size, cursor: listing(after=since, limit=size, cursor=cursor), limit, page_size
        )
    )
    # A thread quiet for longer than the window still exists: its newest email describes it.
    described = emails or owned((await listing(meta_only=True, limit=1)).items)
    if not described:
        raise NotFoundError(f"thread {thread_id} of account {account.id} has no email", status=404)
    record = conversation_from_thread(account, described)
    return _Snapshot(
        record,
        record.participants or (),
        tuple(message_from_email(account, email) for email in emails),
    )


# -- writing ----------------------------------------------------------------------------------


async def _write(account: Account, given: _Snapshot, reason: StorageReason) -> StoreResult:
    # UniPile's text may hold what PostgreSQL refuses (NUL): made storable, never lost.
    snapshot = storable(given)
    record = snapshot.record
    async with in_transaction(), bumped_after(account.workspace_id, Kept.STORED_CONVERSATIONS):
        conversation = await _locked_conversation(account, record, reason)
        await _add_participants(conversation.id, snapshot.participants)
        wanted = {message.external_id: message for message in snapshot.messages}
        known = await Message.filter(
            conversation_id=conversation.id, external_id__in=list(wanted)
        ).only("external_id")
        for row in known:
            wanted.pop(row.external_id)
        await Message.bulk_create([_message_row(conversation.id, m) for m in wanted.values()])
        # The copy follows the live conversation; the time only moves forward, since a message
        # appended by a webhook while this call fetched may be newer than what it fetched.
        last_message_at = _latest(
            conversation.last_message_at,
            record.last_message_at,
            *(message.sent_at for message in snapshot.messages),
        )
        await Conversation.filter(id=conversation.id).update(
            subject=record.subject,
            is_group=record.is_group,
            unread_count=record.unread_count,
            last_message_at=last_message_at,
            storage_reason=stronger_reason(conversation.storage_reason, reason),
        )
        total = await Message.filter(conversation_id=conversation.id).count()
    return StoreResult(conversation_id=conversation.id, added=len(wanted), total=total)


async def _locked_conversation(
    account: Account, record: ConversationRecord, reason: StorageReason
) -> Conversation:
    """The conversation's row, created if missing, locked until the transaction ends.

    `ON CONFLICT DO NOTHING` waits for a concurrent creator to commit instead of failing the
    transaction with an IntegrityError, and the locking read then sees the committed row.
    """
    await Conversation.bulk_create(
        [
            Conversation(
                workspace_id=account.workspace_id,
                account_id=account.id,
                storage_reason=reason,
                stored_at=datetime.now(UTC),
                **same_fields(record, CONVERSATION_FIELDS),
            )
        ],
        ignore_conflicts=True,
    )
    return await Conversation.select_for_update().get(
        account_id=account.id, external_id=record.external_id
    )


async def _add_participants(
    conversation_id: int, participants: Iterable[ParticipantRecord]
) -> None:
    """Add the participants not stored yet; those stored stay as they are."""
    known = await ConversationParticipant.filter(conversation_id=conversation_id).only(
        "identifier", "role"
    )
    stored = {(row.identifier, row.role) for row in known}
    new = {
        (p.identifier, p.role): ConversationParticipant(
            conversation_id=conversation_id,
            identifier=p.identifier,
            identifier_type=p.identifier_type,
            display_name=None if p.display_name is None else p.display_name[:DISPLAY_NAME_LENGTH],
            role=p.role,
            is_self=p.is_self,
        )
        for p in participants
        if (p.identifier, p.role) not in stored
    }
    await ConversationParticipant.bulk_create(new.values())


def _message_row(conversation_id: int, record: MessageRecord) -> Message:
    return Message(
        conversation_id=conversation_id,
        sender=participant_to_json(record.sender),
        recipients={
            "to": [participant_to_json(p) for p in record.to],
            "cc": [participant_to_json(p) for p in record.cc],
        },
        attachments=[attachment_to_json(a) for a in record.attachments],
        **same_fields(record, MESSAGE_FIELDS),
    )


def _latest(*moments: datetime | None) -> datetime | None:
    return max((moment for moment in moments if moment is not None), default=None)
