"""A conversation's messages: the stored copy when there is one, else live from UniPile."""

from __future__ import annotations

import strawberry

from core.ids import primary_key, to_global_id
from core.vocabulary import Channel, Direction, ParticipantRole
from crm import Identifier, Match
from db.models import Message as StoredMessage
from inbox.records import (
    MessageRecord,
    ParticipantRecord,
    attachment_from_json,
    is_upstream_of,
    message_from_chat_message,
    message_from_email,
    participant_from_json,
)
from paging import LaneState, Position, walk
from resolvers.context import Context
from resolvers.conversations import participant, upstream_error
from resolvers.conversations import participant_identifier as identifier_of
from schema import inbox as types
from schema.pagination import page_info, validate_first
from unipile import NotFoundError, UnipileError, is_valid_id

DEFAULT_MESSAGES = 20
MAX_UPSTREAM_LIMIT = 250
LIVE_LANE = "messages"
LiveRow = tuple[Position, MessageRecord]


def message_id(record: MessageRecord) -> str:
    return to_global_id(
        "Message", f"{record.account_id}:{record.conversation_external_id}:{record.external_id}"
    )


def _message_position(record: MessageRecord) -> Position:
    return Position(record.sent_at, record.external_id)


async def _live_rows(
    context: Context, conversation: types.Conversation, first: int, upstream: str | None
) -> tuple[list[LiveRow], str | None]:
    """One upstream page of the conversation's messages, only those UniPile reports as its own."""
    record = conversation.record
    account = record.account
    client = context.services.unipile
    limit = None if upstream else min(MAX_UPSTREAM_LIMIT, first + 1)
    if record.channel is Channel.EMAIL:
        emails = await client.list_emails(
            account_id=account.unipile_id,
            thread_id=record.external_id,
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
        messages = await client.list_chat_messages(record.external_id, limit=limit, cursor=upstream)
        names = {p.identifier: p.display_name for p in conversation.participants}
        records = [
            message_from_chat_message(account, message, names.get(message.sender_id))
            for message in messages.items
            if is_upstream_of(account, message.account_id)
        ]
        next_upstream = messages.cursor
    own = [r for r in records if r.conversation_external_id == record.external_id]
    return [(_message_position(r), r) for r in own], next_upstream


async def _live_page(
    context: Context, conversation: types.Conversation, first: int, after: str | None
) -> tuple[list[MessageRecord], list[str], bool]:
    record = conversation.record
    pager = context.pager(f"messages:{record.account.id}:{record.external_id}")
    resumed = await pager.resume(after)

    async def fetch(
        upstream: str | None,
    ) -> tuple[list[tuple[Position, MessageRecord]], str | None]:
        return await _live_rows(context, conversation, first, upstream)

    taken = await walk(fetch, resumed.states.get(LIVE_LANE, LaneState()), first)
    cursors = await pager.issue(resumed.session, [{LIVE_LANE: state} for _, state in taken])
    has_next_page = len(taken) == first and not taken[-1][1].exhausted
    return [message for message, _ in taken], cursors, has_next_page


def stored_record(message: StoredMessage, account_id: int, external_id: str) -> MessageRecord:
    recipients = message.recipients or {}
    return MessageRecord(
        account_id=account_id,
        conversation_external_id=external_id,
        external_id=message.external_id,
        sender=participant_from_json(message.sender, ParticipantRole.FROM),
        to=tuple(participant_from_json(p, ParticipantRole.TO) for p in recipients.get("to", [])),
        cc=tuple(participant_from_json(p, ParticipantRole.CC) for p in recipients.get("cc", [])),
        direction=Direction(message.direction),
        text=message.text,
        html=message.html,
        sent_at=message.sent_at,
        is_read=message.is_read,
        attachments=tuple(attachment_from_json(a) for a in message.attachments),
    )


async def _stored_page(
    context: Context, conversation: types.Conversation, first: int, after: str | None
) -> tuple[list[MessageRecord], list[str], bool]:
    list_key = f"stored-messages:{conversation.stored_id}"
    cursors = context.cursors()
    offset = cursors.start_offset(list_key, after)
    rows = (
        await StoredMessage.filter(conversation_id=conversation.stored_id)
        .order_by("-sent_at", "-id")
        .offset(offset)
        .limit(first + 1)
    )
    record = conversation.record
    records = [stored_record(row, record.account.id, record.external_id) for row in rows[:first]]
    edge_cursors = [cursors.offset(list_key, offset + index) for index in range(len(records))]
    return records, edge_cursors, len(rows) > first


async def conversation_messages(
    context: Context, conversation: types.Conversation, first: int, after: str | None
) -> types.MessageConnection:
    """Every edge's cursor resumes right after it, live or stored."""
    size = validate_first(first, DEFAULT_MESSAGES)
    read = _live_page if conversation.stored_id is None else _stored_page
    records, cursors, has_next_page = await read(context, conversation, size, after)
    nodes = await message_nodes(context, records)
    edges = [
        types.MessageEdge(cursor=cursor, node=node)
        for cursor, node in zip(cursors, nodes, strict=True)
    ]
    return types.MessageConnection(
        edges=edges,
        page_info=page_info(
            edges, has_next_page=has_next_page, has_previous_page=after is not None
        ),
    )


async def message_nodes(context: Context, records: list[MessageRecord]) -> list[types.Message]:
    """The messages with their participants' CRM matches, loaded in one batch."""
    scope = await context.scope()
    loaders = await context.loaders()
    people = [(r.sender, *r.to, *r.cc) for r in records]
    identifiers = [tuple(identifier_of(p, scope.region) for p in group) for group in people]
    wanted: list[Identifier] = list({i for group in identifiers for i in group if i is not None})
    matches = dict(
        zip(wanted, await loaders.crm_match_by_identifier.load_many(wanted), strict=True)
    )
    return _build_messages(records, people, identifiers, matches)


def _build_messages(
    records: list[MessageRecord],
    people: list[tuple[ParticipantRecord, ...]],
    identifiers: list[tuple[Identifier | None, ...]],
    matches: dict[Identifier, Match],
) -> list[types.Message]:
    nodes = []
    for record, group, ids in zip(records, people, identifiers, strict=True):
        shown = [
            participant(p, i, None if i is None else matches[i])
            for p, i in zip(group, ids, strict=True)
        ]
        nodes.append(
            types.Message(
                id=strawberry.ID(message_id(record)),
                external_id=record.external_id,
                sender=shown[0],
                recipients=shown[1:],
                direction=record.direction,
                text=record.text,
                html=record.html,
                sent_at=record.sent_at,
                is_read=record.is_read,
                attachments=[
                    types.Attachment(name=a.name, size=a.size, mime_type=a.mime_type)
                    for a in record.attachments
                ],
            )
        )
    return nodes


async def message_by_key(context: Context, key: str) -> types.Message | None:
    """A message by `account:conversation:message`; None when missing or not the viewer's."""
    account_part, _, rest = key.partition(":")
    conversation_external_id, _, external_id = rest.rpartition(":")
    scope = await context.scope()
    account_id = primary_key(account_part)
    account = None if account_id is None else scope.account(account_id)
    if account is None or not is_valid_id(external_id):
        return None
    client = context.services.unipile
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
    return (await message_nodes(context, [record]))[0]
