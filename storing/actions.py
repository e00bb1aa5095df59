"""What a user does to a conversation: store, link, unlink, forget, read state; and forgetting
an address or number everywhere.

Each action is safe to retry. The caller has checked that the account is the viewer's, and
announces the change once the action is done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.transactions import in_transaction

from core.errors import BadUserInput, Forbidden, NotFound
from core.vocabulary import Channel, IdentifierKind, LinkSource, NeverStoreKind, StorageReason
from crm import CandidateKind, Rejected, classify_participant, normalize_never_store_value
from crm.caching import Kept, bumped_after
from db.models import (
    Account,
    Company,
    Contact,
    Conversation,
    ConversationLink,
    ConversationParticipant,
    Message,
    NeverStoreEntry,
)
from inbox.facts import upstream_error
from storing.copies import StoreResult, store_conversation
from storing.jobs import allow_automatic_storage, forget_automatic_storage
from unipile import NotFoundError, UnipileClient, UnipileError


@dataclass(frozen=True, slots=True)
class Target:
    kind: CandidateKind
    id: int


async def existing_target(workspace_id: int, kind: CandidateKind, pk: int) -> Target:
    """The workspace's contact or company `pk`; NOT_FOUND for any other."""
    if kind is CandidateKind.CONTACT:
        if not await Contact.exists(id=pk, workspace_id=workspace_id):
            raise NotFound("no such contact", argument="contactId")
    elif not await Company.exists(id=pk, workspace_id=workspace_id):
        raise NotFound("no such company", argument="companyId")
    return Target(kind, pk)


def _target_filter(target: Target) -> dict[str, Any]:
    return (
        {"contact_id": target.id}
        if target.kind is CandidateKind.CONTACT
        else {"company_id": target.id}
    )


async def store(
    client: UnipileClient, account: Account, external_id: str, reason: StorageReason
) -> StoreResult:
    await allow_automatic_storage(account.id, external_id)
    try:
        return await store_conversation(client, account, external_id, reason)
    except NotFoundError:
        raise NotFound("no such conversation", argument="conversationId") from None
    except UnipileError as error:
        raise upstream_error(account, error) from None


async def link(
    client: UnipileClient, user_id: int, account: Account, external_id: str, target: Target
) -> ConversationLink:
    """Link (again, if a user had unlinked it) and store the conversation: MANUAL_LINK."""
    await store(client, account, external_id, StorageReason.MANUAL_LINK)
    keys = {
        "account_id": account.id,
        "conversation_external_id": external_id,
        **_target_filter(target),
    }
    async with in_transaction(), bumped_after(account.workspace_id, Kept.STORED_CONVERSATIONS):
        existing = await ConversationLink.filter(**keys).select_for_update().first()
        if existing is None:
            created = await ConversationLink.create(
                workspace_id=account.workspace_id,
                source=LinkSource.USER,
                created_by_id=user_id,
                **keys,
            )
        else:
            await ConversationLink.filter(id=existing.id).update(
                source=LinkSource.USER,
                rule=None,
                created_by_id=user_id,
                removed_at=None,
                removed_by_id=None,
            )
            created = await ConversationLink.get(id=existing.id)
    return created


async def unlink(user_id: int, account: Account, external_id: str, target: Target) -> None:
    """Leave a tombstone, so the matcher never links it again; the stored copy stays."""
    keys = {
        "account_id": account.id,
        "conversation_external_id": external_id,
        **_target_filter(target),
    }
    async with bumped_after(account.workspace_id, Kept.STORED_CONVERSATIONS):
        updated = await ConversationLink.filter(removed_at=None, **keys).update(
            removed_at=datetime.now(UTC), removed_by_id=user_id
        )
    if not updated and not await ConversationLink.exists(**keys):
        raise NotFound("the conversation is not linked to it", argument="conversationId")


async def forget(user_id: int, account: Account, external_id: str, also_unlink: bool) -> bool:
    """Delete the stored copy; refused while a user's link holds it, unless unlinked too. Leaves
    a mark that automatic storage respects: only a user's store or link keeps it again."""
    active = ConversationLink.filter(
        account_id=account.id, conversation_external_id=external_id, removed_at=None
    )
    async with in_transaction(), bumped_after(account.workspace_id, Kept.STORED_CONVERSATIONS):
        if await active.filter(source=LinkSource.USER).exists() and not also_unlink:
            raise Forbidden(
                "the conversation is linked: unlink it first, or pass unlink: true",
                argument="unlink",
            )
        await active.update(removed_at=datetime.now(UTC), removed_by_id=user_id)
        deleted = await Conversation.filter(account_id=account.id, external_id=external_id).delete()
        await forget_automatic_storage(account.id, external_id)
    return deleted > 0


async def mark_read(client: UnipileClient, account: Account, external_id: str, read: bool) -> None:
    try:
        if account.channel is Channel.EMAIL:
            thread = await client.list_emails(
                account_id=account.unipile_id, thread_id=external_id, meta_only=True, limit=50
            )
            if not thread.items:
                raise NotFound("no such conversation", argument="conversationId")
            for email in thread.items:
                if email.is_read != read:
                    await client.set_email_read(email.id, read=read, account_id=account.unipile_id)
        else:
            await client.set_chat_read(external_id, read=read)
    except NotFoundError:
        raise NotFound("no such conversation", argument="conversationId") from None
    except UnipileError as error:
        raise upstream_error(account, error) from None
    stored = Conversation.filter(account_id=account.id, external_id=external_id)
    await Message.filter(
        conversation__account_id=account.id, conversation__external_id=external_id
    ).update(is_read=read)
    if read:
        await stored.update(unread_count=0)


async def forget_identifier(workspace_id: int, region: str, raw: str) -> int:
    """Delete every stored participant and message involving an address or number, and never
    store it again (the right to be forgotten). Returns the messages deleted."""
    identifier = classify_participant(raw, region=region)
    if isinstance(identifier, Rejected) or identifier.kind is IdentifierKind.PROVIDER_ID:
        raise BadUserInput("give an email address or a phone number", argument="identifier")
    kind = NeverStoreKind.EMAIL if identifier.kind is IdentifierKind.EMAIL else NeverStoreKind.PHONE
    value = normalize_never_store_value(kind, raw, region=region)
    assert not isinstance(value, Rejected), "classified identifiers normalise"

    def involves(candidate: object) -> bool:
        if not isinstance(candidate, str):
            return False
        seen = classify_participant(candidate, region=region)
        return not isinstance(seen, Rejected) and seen == identifier

    participants = await ConversationParticipant.filter(
        conversation__workspace_id=workspace_id
    ).values("id", "identifier")
    messages = await Message.filter(conversation__workspace_id=workspace_id).values(
        "id", "sender", "recipients"
    )
    doomed_participants = [row["id"] for row in participants if involves(row["identifier"])]
    doomed_messages = [row["id"] for row in messages if _message_involves(row, involves)]
    # The never-store entry is one of the storage rules.
    async with in_transaction(), bumped_after(workspace_id, Kept.STORAGE_RULES):
        await ConversationParticipant.filter(id__in=doomed_participants).delete()
        await Message.filter(id__in=doomed_messages).delete()
        await NeverStoreEntry.get_or_create(workspace_id=workspace_id, kind=kind, value=value)
    return len(doomed_messages)


def _message_involves(row: dict[str, Any], involves: Callable[[object], bool]) -> bool:
    sender = row["sender"] if isinstance(row["sender"], dict) else {}
    recipients = row["recipients"] if isinstance(row["recipients"], dict) else {}
    people = [sender, *recipients.get("to", []), *recipients.get("cc", [])]
    return any(involves(person.get("identifier")) for person in people if isinstance(person, dict))
