"""Conversations and messages in one shape, whether read live from UniPile or from the database.

UniPile has two models (chats with messages, and emails grouped by thread); the inbox has one.
These plain records are what the resolvers hand to the schema's types.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.vocabulary import Channel, ConversationSource, Direction, ParticipantRole
from db.models import Account
from unipile import Chat, ChatAttendee, Email, EmailAttendee, Message

WHATSAPP_JID_TYPE = "WHATSAPP_JID"
PREVIEW_LENGTH = 140
ROLE_PRIORITY = (
    ParticipantRole.FROM,
    ParticipantRole.TO,
    ParticipantRole.CC,
    ParticipantRole.BCC,
    ParticipantRole.MEMBER,
)
_ROLE_RANK = {role: rank for rank, role in enumerate(ROLE_PRIORITY)}
# What a stored row keeps of a live record, under the same names (the GraphQL types too): the one
# list of the fields that pass unchanged between the three shapes.
CONVERSATION_FIELDS = (
    "external_id",
    "channel",
    "subject",
    "is_group",
    "last_message_at",
    "unread_count",
)
MESSAGE_FIELDS = ("external_id", "direction", "text", "html", "sent_at", "is_read")


@dataclass(frozen=True, slots=True)
class ParticipantRecord:
    identifier: str
    identifier_type: str
    display_name: str | None
    role: ParticipantRole
    is_self: bool


@dataclass(frozen=True, slots=True)
class AttachmentRecord:
    name: str | None
    size: int | None
    mime_type: str | None


@dataclass(frozen=True, slots=True)
class MessageRecord:
    account_id: int
    conversation_external_id: str
    external_id: str
    sender: ParticipantRecord
    to: tuple[ParticipantRecord, ...]
    cc: tuple[ParticipantRecord, ...]
    direction: Direction
    text: str | None
    html: str | None
    sent_at: datetime
    is_read: bool
    attachments: tuple[AttachmentRecord, ...]


@dataclass(frozen=True, slots=True)
class ConversationRecord:
    """A conversation of one account; `participants` is None for a group chat whose members must be
    fetched separately (UniPile lists only 1:1 chats' other party)."""

    account: Account
    external_id: str
    channel: Channel
    subject: str | None
    is_group: bool
    last_message_at: datetime | None
    last_message_preview: str | None
    unread_count: int
    has_attachments: bool
    participants: tuple[ParticipantRecord, ...] | None
    source: ConversationSource = ConversationSource.LIVE
    # When the live data was read from UniPile; None for a stored copy.
    fetched_at: datetime | None = None
    folders: frozenset[str] = frozenset()
    """An email thread's folders, as its emails name them (`INBOX`, `SENT`...)."""

    @property
    def key(self) -> tuple[int, str]:
        return (self.account.id, self.external_id)


def is_upstream_of(account: Account, upstream_account_id: str | None) -> bool:
    """Whether UniPile reports an object as this account's. Every object read by id or listed
    passes this check before it is shown, acted on or stored: one UniPile organisation serves
    every workspace, so an id alone proves nothing."""
    return upstream_account_id == account.unipile_id


def _own_values(account: Account) -> frozenset[str]:
    return frozenset(str(entry["value"]).lower() for entry in account.own_identifiers)


def is_own(account: Account, identifier: str) -> bool:
    """Whether a raw identifier is the account's own (by address, or by a JID's digits)."""
    return _is_own_in(_own_values(account), identifier)


def _is_own_in(own: frozenset[str], identifier: str) -> bool:
    lowered = identifier.strip().lower()
    digits = (
        "+" + lowered.split("@", 1)[0].split(":", 1)[0]
        if lowered.endswith("@s.whatsapp.net")
        else None
    )
    return lowered in own or (digits is not None and digits in own)


def _chat_identifier_type(channel: Channel) -> str:
    if channel is Channel.WHATSAPP:
        return WHATSAPP_JID_TYPE
    if channel is Channel.LINKEDIN:
        return "LINKEDIN_ID"
    return "CHAT_ATTENDEE_ID"


def _self_participant(account: Account) -> tuple[ParticipantRecord, ...]:
    return tuple(
        ParticipantRecord(
            identifier=str(entry["value"]),
            identifier_type=str(entry["kind"]),
            display_name=account.name,
            role=ParticipantRole.MEMBER,
            is_self=True,
        )
        for entry in account.own_identifiers[:1]
    )


def chat_participants(account: Account, chat: Chat) -> tuple[ParticipantRecord, ...] | None:
    if chat.is_group:
        return None
    other = chat.attendee_provider_id or chat.provider_id
    counterpart = ParticipantRecord(
        identifier=other,
        identifier_type=_chat_identifier_type(account.channel),
        display_name=chat.name,
        role=ParticipantRole.MEMBER,
        is_self=False,
    )
    return (counterpart, *_self_participant(account))


def attendee_participants(
    account: Account, attendees: Iterable[ChatAttendee]
) -> tuple[ParticipantRecord, ...]:
    identifier_type = _chat_identifier_type(account.channel)
    return tuple(
        ParticipantRecord(
            identifier=attendee.provider_id,
            identifier_type=identifier_type,
            display_name=attendee.name,
            role=ParticipantRole.MEMBER,
            is_self=attendee.is_self,
        )
        for attendee in attendees
    )


def conversation_from_chat(
    account: Account,
    chat: Chat,
    source: ConversationSource = ConversationSource.LIVE,
    fetched_at: datetime | None = None,
) -> ConversationRecord:
    preview = chat.last_message.text if chat.last_message is not None else None
    return ConversationRecord(
        account=account,
        external_id=chat.id,
        channel=account.channel,
        subject=chat.subject or chat.name,
        is_group=chat.is_group,
        last_message_at=chat.timestamp,
        last_message_preview=_preview(preview),
        unread_count=chat.unread_count,
        has_attachments=False,
        participants=chat_participants(account, chat),
        source=source,
        fetched_at=fetched_at,
    )


def thread_id_of(email: Email) -> str:
    return email.thread_id or email.id


def _email_participant(
    account: Account, attendee: EmailAttendee, role: ParticipantRole
) -> ParticipantRecord:
    return ParticipantRecord(
        identifier=attendee.identifier,
        identifier_type=str(attendee.identifier_type),
        display_name=attendee.display_name,
        role=role,
        is_self=is_own(account, attendee.identifier),
    )


def _email_roles(email: Email) -> Iterable[tuple[EmailAttendee, ParticipantRole]]:
    if email.from_attendee is not None:
        yield email.from_attendee, ParticipantRole.FROM
    yield from ((attendee, ParticipantRole.TO) for attendee in email.to_attendees)
    yield from ((attendee, ParticipantRole.CC) for attendee in email.cc_attendees)


def thread_participants(account: Account, emails: Sequence[Email]) -> tuple[ParticipantRecord, ...]:
    """Everyone on the thread's emails, once each, in their most telling role: FROM, TO, CC."""
    own = _own_values(account)
    best: dict[str, tuple[int, EmailAttendee, ParticipantRole]] = {}
    for email in emails:
        for attendee, role in _email_roles(email):
            key = attendee.identifier.strip().lower()
            known = best.get(key)
            rank = _ROLE_RANK[role]
            if known is None or rank < known[0]:
                best[key] = (rank, attendee, role)
    return tuple(
        ParticipantRecord(
            identifier=attendee.identifier,
            identifier_type=str(attendee.identifier_type),
            display_name=attendee.display_name,
            role=role,
            is_self=_is_own_in(own, attendee.identifier),
        )
        for _, attendee, role in best.values()
    )


def conversation_from_thread(
    account: Account,
    emails: Sequence[Email],
    source: ConversationSource = ConversationSource.LIVE,
    fetched_at: datetime | None = None,
) -> ConversationRecord:
    """A thread from its emails, newest first."""
    newest = emails[0]
    return ConversationRecord(
        account=account,
        external_id=thread_id_of(newest),
        channel=Channel.EMAIL,
        subject=newest.subject,
        is_group=False,
        last_message_at=newest.date,
        last_message_preview=_preview(newest.body_plain) or None,
        unread_count=sum(1 for email in emails if not email.is_read),
        has_attachments=any(email.has_attachments for email in emails),
        participants=thread_participants(account, emails),
        source=source,
        fetched_at=fetched_at,
        folders=frozenset(folder for email in emails for folder in email.folders),
    )


def message_from_chat_message(
    account: Account, message: Message, sender_name: str | None
) -> MessageRecord:
    sender = ParticipantRecord(
        identifier=message.sender_id,
        identifier_type=_chat_identifier_type(account.channel),
        display_name=account.name if message.is_sender else sender_name,
        role=ParticipantRole.FROM,
        is_self=message.is_sender,
    )
    return MessageRecord(
        account_id=account.id,
        conversation_external_id=message.chat_id,
        external_id=message.id,
        sender=sender,
        to=(),
        cc=(),
        direction=Direction.OUTBOUND if message.is_sender else Direction.INBOUND,
        text=message.text,
        html=None,
        sent_at=message.timestamp,
        is_read=message.seen or message.is_sender,
        attachments=tuple(
            AttachmentRecord(name=item.file_name, size=item.file_size, mime_type=item.mimetype)
            for item in message.attachments
        ),
    )


def message_from_email(account: Account, email: Email) -> MessageRecord:
    sender_attendee = email.from_attendee
    sender = (
        _email_participant(account, sender_attendee, ParticipantRole.FROM)
        if sender_attendee is not None
        else ParticipantRecord("", "EMAIL_ADDRESS", None, ParticipantRole.FROM, False)
    )
    return MessageRecord(
        account_id=account.id,
        conversation_external_id=thread_id_of(email),
        external_id=email.id,
        sender=sender,
        to=tuple(_email_participant(account, a, ParticipantRole.TO) for a in email.to_attendees),
        cc=tuple(_email_participant(account, a, ParticipantRole.CC) for a in email.cc_attendees),
        direction=Direction.OUTBOUND if sender.is_self else Direction.INBOUND,
        text=email.body_plain or None,
        html=email.body or None,
        sent_at=email.date,
        is_read=email.is_read,
        attachments=tuple(
            AttachmentRecord(name=item.name, size=item.size, mime_type=item.mime)
            for item in email.attachments
        ),
    )


def _preview(text: str | None) -> str | None:
    if not text:
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_LENGTH else flat[: PREVIEW_LENGTH - 1] + "…"


# One JSON form of participants and attachments, for the pub/sub and for stored messages alike.


def participant_to_json(participant: ParticipantRecord) -> dict[str, Any]:
    return {
        "identifier": participant.identifier,
        "identifier_type": participant.identifier_type,
        "display_name": participant.display_name,
        "role": participant.role.value,
        "is_self": participant.is_self,
    }


def participant_from_json(
    data: Mapping[str, Any], role: ParticipantRole | None = None
) -> ParticipantRecord:
    """`role`, when given, is the one the participant has where it is read from (a stored
    message's sender is FROM whatever was written)."""
    display_name = data.get("display_name")
    return ParticipantRecord(
        identifier=str(data.get("identifier", "")),
        identifier_type=str(data.get("identifier_type", "")),
        display_name=None if display_name is None else str(display_name),
        role=role or ParticipantRole(data["role"]),
        is_self=bool(data.get("is_self", False)),
    )


def attachment_to_json(attachment: AttachmentRecord) -> dict[str, Any]:
    return {"name": attachment.name, "size": attachment.size, "mime_type": attachment.mime_type}


def attachment_from_json(data: Mapping[str, Any]) -> AttachmentRecord:
    return AttachmentRecord(
        name=data.get("name"), size=data.get("size"), mime_type=data.get("mime_type")
    )


def conversation_to_json(record: ConversationRecord) -> dict[str, Any]:
    """For the pub/sub: everything but the account, which each subscriber reads from its scope."""
    return {
        "external_id": record.external_id,
        "channel": record.channel.value,
        "subject": record.subject,
        "is_group": record.is_group,
        "last_message_at": record.last_message_at,
        "last_message_preview": record.last_message_preview,
        "unread_count": record.unread_count,
        "has_attachments": record.has_attachments,
        "participants": None
        if record.participants is None
        else [participant_to_json(p) for p in record.participants],
        "folders": sorted(record.folders),
    }


def conversation_from_json(account: Account, data: Mapping[str, Any]) -> ConversationRecord:
    participants = data.get("participants")
    at = data.get("last_message_at")
    return ConversationRecord(
        account=account,
        external_id=str(data["external_id"]),
        channel=Channel(data["channel"]),
        subject=data.get("subject"),
        is_group=bool(data["is_group"]),
        last_message_at=None if at is None else datetime.fromisoformat(str(at)),
        last_message_preview=data.get("last_message_preview"),
        unread_count=int(data["unread_count"]),
        has_attachments=bool(data["has_attachments"]),
        participants=None
        if participants is None
        else tuple(participant_from_json(p) for p in participants),
        folders=frozenset(data.get("folders") or ()),
    )


def message_to_json(record: MessageRecord) -> dict[str, Any]:
    return {
        "account_id": record.account_id,
        "conversation_external_id": record.conversation_external_id,
        "external_id": record.external_id,
        "sender": participant_to_json(record.sender),
        "to": [participant_to_json(p) for p in record.to],
        "cc": [participant_to_json(p) for p in record.cc],
        "direction": record.direction.value,
        "text": record.text,
        "html": record.html,
        "sent_at": record.sent_at,
        "is_read": record.is_read,
        "attachments": [attachment_to_json(a) for a in record.attachments],
    }


def message_from_json(data: Mapping[str, Any]) -> MessageRecord:
    return MessageRecord(
        account_id=int(data["account_id"]),
        conversation_external_id=str(data["conversation_external_id"]),
        external_id=str(data["external_id"]),
        sender=participant_from_json(data["sender"]),
        to=tuple(participant_from_json(p) for p in data["to"]),
        cc=tuple(participant_from_json(p) for p in data["cc"]),
        direction=Direction(data["direction"]),
        text=data.get("text"),
        html=data.get("html"),
        sent_at=datetime.fromisoformat(str(data["sent_at"])),
        is_read=bool(data["is_read"]),
        attachments=tuple(attachment_from_json(a) for a in data["attachments"]),
    )


def same_fields(source: object, names: Iterable[str]) -> dict[str, Any]:
    """`source`'s values of `names`, for another shape that names them alike."""
    return {name: getattr(source, name) for name in names}
