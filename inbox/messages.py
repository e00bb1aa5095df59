"""A conversation's messages: the stored copy when there is one, else live from UniPile; each
with its participants' CRM matches, loaded in one batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from core.cursors import ViewerCursors
from core.ids import primary_key
from core.pages import CursorPage
from core.vocabulary import Channel, ParticipantRole
from crm import Identifier, Match
from db.models import Message as StoredMessage
from inbox.facts import identify_all, load_matches, upstream_error
from inbox.reading import Reading
from inbox.records import (
    MESSAGE_FIELDS,
    ConversationRecord,
    MessageRecord,
    ParticipantRecord,
    attachment_from_json,
    is_upstream_of,
    message_from_chat_message,
    message_from_email,
    participant_from_json,
    same_fields,
)
from paging import LaneState, Pager, Position, walk
from unipile import NotFoundError, UnipileClient, UnipileError, is_valid_id

MAX_UPSTREAM_LIMIT = 250
LIVE_LANE = "messages"
LiveRow = tuple[Position, MessageRecord]


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """A message with its people (sender, then to, then cc) and their CRM matches."""

    record: MessageRecord
    people: tuple[ParticipantRecord, ...]
    identifiers: tuple[Identifier | None, ...]
    matches: tuple[Match | None, ...]


MessagePage = CursorPage[MessageFacts]


async def load_message_facts(
    reading: Reading, records: Sequence[MessageRecord]
) -> list[MessageFacts]:
    people = [(r.sender, *r.to, *r.cc) for r in records]
    identifiers = identify_all(people, reading.scope.region)
    matches = await load_matches(reading, identifiers)
    return [
        MessageFacts(record, group, ids, tuple(None if i is None else matches[i] for i in ids))
        for record, group, ids in zip(records, people, identifiers, strict=True)
    ]


def _message_position(record: MessageRecord) -> Position:
    return Position(record.sent_at, record.external_id)


async def _live_rows(
    client: UnipileClient,
    conversation: ConversationRecord,
    names: Mapping[str, str | None],
    first: int,
    upstream: str | None,
) -> tuple[list[LiveRow], str | None]:
    """One upstream page of the conversation's messages, only those UniPile reports as its own."""
    account = conversation.account
    limit = None if upstream else min(MAX_UPSTREAM_LIMIT, first + 1)
    if conversation.channel is Channel.EMAIL:
        emails = await client.list_emails(
            account_id=account.unipile_id,
            thread_id=conversation.external_id,
            limit=limit,
            cursor=upstream,
        )
        records = [
            message_from_email(account, email)
            for email in emails.items
            if is_upstream_of(account, email.account_id)
        ]
        next_upstream = emails.cursor
    else:
        messages = await client.list_chat_messages(
            conversation.external_id, limit=limit, cursor=upstream
        )
        records = [
            message_from_chat_message(account, message, names.get(message.sender_id))
            for message in messages.items
            if is_upstream_of(account, message.account_id)
        ]
        next_upstream = messages.cursor
    own = [r for r in records if r.conversation_external_id == conversation.external_id]
    return [(_message_position(r), r) for r in own], next_upstream


async def live_messages(
    client: UnipileClient,
    pager: Pager,
    conversation: ConversationRecord,
    names: Mapping[str, str | None],
    first: int,
    after: str | None,
) -> tuple[list[MessageRecord], list[str], bool]:
    """`names`: the display names of the chat's members by identifier, which messages lack."""
    resumed = await pager.resume(after)

    async def fetch(upstream: str | None) -> tuple[list[LiveRow], str | None]:
        return await _live_rows(client, conversation, names, first, upstream)

    taken = await walk(fetch, resumed.states.get(LIVE_LANE, LaneState()), first)
    cursors = await pager.issue(resumed.session, [{LIVE_LANE: state} for _, state in taken])
    has_next_page = len(taken) == first and not taken[-1][1].exhausted
    return [message for message, _ in taken], cursors, has_next_page


def stored_record(message: StoredMessage, account_id: int, external_id: str) -> MessageRecord:
    recipients = message.recipients or {}
    return MessageRecord(
        account_id=account_id,
        conversation_external_id=external_id,
        sender=participant_from_json(message.sender, ParticipantRole.FROM),
        to=tuple(participant_from_json(p, ParticipantRole.TO) for p in recipients.get("to", [])),
        cc=tuple(participant_from_json(p, ParticipantRole.CC) for p in recipients.get("cc", [])),
        attachments=tuple(attachment_from_json(a) for a in message.attachments),
        **same_fields(message, MESSAGE_FIELDS),
    )


async def stored_messages(
    cursors: ViewerCursors,
    conversation: ConversationRecord,
    stored_id: int,
    first: int,
    after: str | None,
) -> tuple[list[MessageRecord], list[str], bool]:
    list_key = f"stored-messages:{stored_id}"
    offset = cursors.start_offset(list_key, after)
    rows = (
        await StoredMessage.filter(conversation_id=stored_id)
        .order_by("-sent_at", "-id")
        .offset(offset)
        .limit(first + 1)
    )
    records = [
        stored_record(row, conversation.account.id, conversation.external_id)
        for row in rows[:first]
    ]
    edge_cursors = [cursors.offset(list_key, offset + index) for index in range(len(records))]
    return records, edge_cursors, len(rows) > first


async def message_page(
    reading: Reading,
    records: Sequence[MessageRecord],
    cursors: Sequence[str],
    has_next_page: bool,
    has_previous_page: bool,
) -> MessagePage:
    facts = await load_message_facts(reading, records)
    return CursorPage(list(zip(facts, cursors, strict=True)), has_next_page, has_previous_page)


async def message_by_key(reading: Reading, client: UnipileClient, key: str) -> MessageFacts | None:
    """A message by `account:conversation:message`; None when missing or not the viewer's."""
    account_part, _, rest = key.partition(":")
    conversation_external_id, _, external_id = rest.rpartition(":")
    account_id = primary_key(account_part)
    account = None if account_id is None else reading.scope.account(account_id)
    if account is None or not is_valid_id(external_id):
        return None
    try:
        if account.channel is Channel.EMAIL:
            email = await client.get_email(external_id, account_id=account.unipile_id)
            record = (
                message_from_email(account, email)
                if is_upstream_of(account, email.account_id)
                else None
            )
        else:
            message = await client.get_message(external_id)
            record = (
                message_from_chat_message(account, message, None)
                if is_upstream_of(account, message.account_id)
                else None
            )
    except NotFoundError:
        return None
    except UnipileError as error:
        raise upstream_error(account, error) from None
    if record is None or record.conversation_external_id != conversation_external_id:
        return None
    [facts] = await load_message_facts(reading, [record])
    return facts
