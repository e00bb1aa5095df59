"""A conversation's messages: the stored copy when there is one, else live from UniPile."""

from __future__ import annotations

import base64
import binascii

import strawberry

from core.errors import BadUserInput
from crm import Identifier, Match
from db.models import Message as StoredMessage
from db.vocabulary import Channel, Direction, ParticipantRole
from resolvers.context import Context
from resolvers.conversations import participant, upstream_error
from resolvers.conversations import participant_identifier as identifier_of
from resolvers.live import (
    MessageRecord,
    ParticipantRecord,
    attachment_from_json,
    message_from_chat_message,
    message_from_email,
    participant_from_json,
)
from schema import inbox as types
from schema.ids import to_global_id
from schema.pagination import PageInfo, decode_offset_cursor, encode_offset_cursor, validate_first
from unipile import NotFoundError, UnipileError

DEFAULT_MESSAGES = 20
LIVE_PREFIX = "live:"


def message_id(record: MessageRecord) -> str:
    return to_global_id(
        "Message", f"{record.account_id}:{record.conversation_external_id}:{record.external_id}"
    )


def _encode_live(upstream: str) -> str:
    return base64.urlsafe_b64encode((LIVE_PREFIX + upstream).encode()).decode()


def _decode_live(cursor: str) -> str:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    if not text.startswith(LIVE_PREFIX) or len(text) == len(LIVE_PREFIX):
        raise BadUserInput("`after` is not a cursor of these messages", argument="after")
    return text[len(LIVE_PREFIX) :]


async def _live_page(
    context: Context, conversation: types.Conversation, first: int, after: str | None
) -> tuple[list[MessageRecord], str | None]:
    record = conversation.record
    client = context.services.unipile
    upstream = None if after is None else _decode_live(after)
    if record.channel is Channel.EMAIL:
        emails = await client.list_emails(
            account_id=record.account.unipile_id,
            thread_id=record.external_id,
            limit=None if upstream else first,
            cursor=upstream,
        )
        return [message_from_email(record.account, email) for email in emails.items], emails.cursor
    messages = await client.list_chat_messages(
        record.external_id, limit=None if upstream else first, cursor=upstream
    )
    names = {p.identifier: p.display_name for p in conversation.participants}
    return [
        message_from_chat_message(record.account, message, names.get(message.sender_id))
        for message in messages.items
    ], messages.cursor


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
    conversation: types.Conversation, first: int, after: str | None
) -> tuple[list[MessageRecord], str | None, int]:
    kind = f"messages-{conversation.stored_id}"
    offset = 0 if after is None else decode_offset_cursor(kind, after) + 1
    rows = (
        await StoredMessage.filter(conversation_id=conversation.stored_id)
        .order_by("-sent_at", "-id")
        .offset(offset)
        .limit(first + 1)
    )
    record = conversation.record
    records = [stored_record(row, record.account.id, record.external_id) for row in rows[:first]]
    next_cursor = encode_offset_cursor(kind, offset + first - 1) if len(rows) > first else None
    return records, next_cursor, offset


async def conversation_messages(
    context: Context, conversation: types.Conversation, first: int, after: str | None
) -> types.MessageConnection:
    size = validate_first(first, DEFAULT_MESSAGES)
    if conversation.stored_id is not None:
        records, next_cursor, offset = await _stored_page(conversation, size, after)
        kind = f"messages-{conversation.stored_id}"
        cursors = [encode_offset_cursor(kind, offset + index) for index in range(len(records))]
    else:
        records, upstream = await _live_page(context, conversation, size, after)
        next_cursor = None if upstream is None else _encode_live(upstream)
        cursors = [next_cursor or "" for _ in records]
    nodes = await message_nodes(context, records)
    edges = [
        types.MessageEdge(cursor=cursor, node=node)
        for cursor, node in zip(cursors, nodes, strict=True)
    ]
    return types.MessageConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=next_cursor is not None,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=next_cursor,
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
    account = scope.account(int(account_part)) if account_part.isdigit() else None
    if account is None or not external_id:
        return None
    client = context.services.unipile
    try:
        if account.channel is Channel.EMAIL:
            email = await client.get_email(external_id, account_id=account.unipile_id)
            record = (
                message_from_email(account, email)
                if email.account_id == account.unipile_id
                else None
            )
        else:
            message = await client.get_message(external_id)
            record = (
                message_from_chat_message(account, message, None)
                if message.account_id == account.unipile_id
                else None
            )
    except NotFoundError:
        return None
    except UnipileError as error:
        raise upstream_error(account, error) from None
    if record is None or record.conversation_external_id != conversation_external_id:
        return None
    return (await message_nodes(context, [record]))[0]
