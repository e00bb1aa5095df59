"""Typed results of the client: frozen slotted dataclasses parsed by hand (no validation layer).

Parsing is tolerant on purpose: unknown extra fields are ignored and an enum value this code does
not know is kept as the raw value (``AccountType | str``, ``ChatType | int``...), because UniPile's
service is newer than any published schema and emits values the SDK does not list yet.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Generic, Literal, Self, TypeGuard, TypeVar

from unipile._identifiers import is_whatsapp_group_jid
from unipile._timestamps import parse_optional_timestamp, parse_timestamp

__all__ = [
    "Account",
    "AccountSource",
    "AccountType",
    "Chat",
    "ChatAttendee",
    "ChatHead",
    "ChatType",
    "Email",
    "EmailAttachment",
    "EmailAttendee",
    "EmailHead",
    "EmailKind",
    "EmailReference",
    "EmailSent",
    "Folder",
    "FolderRole",
    "HostedAuthKind",
    "IdentifierType",
    "Message",
    "MessageAttachment",
    "MessageSent",
    "Page",
    "Reaction",
    "SourceStatus",
    "Webhook",
]

T = TypeVar("T")
E = TypeVar("E", bound=enum.Enum)
V = TypeVar("V")

# `muted_until: -1` is read as "muted with no end"; this is a guess, the sources only give the type.
MUTED_FOREVER = datetime.max.replace(tzinfo=UTC)

HostedAuthKind = Literal["create", "reconnect"]
"""A hosted-auth link's ``type``: connect a new account, or reconnect an existing one. A literal
here, not ``core.vocabulary.HostedAuthKind``, because ``unipile`` never imports ``db``; that enum's
values are these strings."""


class AccountType(enum.StrEnum):
    WHATSAPP = "WHATSAPP"
    LINKEDIN = "LINKEDIN"
    INSTAGRAM = "INSTAGRAM"
    TELEGRAM = "TELEGRAM"
    MESSENGER = "MESSENGER"
    TWITTER = "TWITTER"
    SLACK = "SLACK"
    MAIL = "MAIL"
    GOOGLE_OAUTH = "GOOGLE_OAUTH"
    OUTLOOK = "OUTLOOK"
    ICLOUD = "ICLOUD"
    EXCHANGE = "EXCHANGE"
    GOOGLE_CALENDAR = "GOOGLE_CALENDAR"
    MOBILE = "MOBILE"
    # Only in email `type` and webhook account filters, never as an account's own type.
    GOOGLE = "GOOGLE"


class SourceStatus(enum.StrEnum):
    OK = "OK"
    STOPPED = "STOPPED"
    ERROR = "ERROR"
    CREDENTIALS = "CREDENTIALS"
    PERMISSIONS = "PERMISSIONS"
    CONNECTING = "CONNECTING"


class ChatType(enum.IntEnum):
    SINGLE = 0
    GROUP = 1
    CHANNEL = 2


class EmailKind(enum.StrEnum):
    REF = "0_ref"
    META = "1_meta"
    FULL = "2_full"


class FolderRole(enum.StrEnum):
    INBOX = "inbox"
    SENT = "sent"
    ARCHIVE = "archive"
    DRAFTS = "drafts"
    TRASH = "trash"
    SPAM = "spam"
    ALL = "all"
    IMPORTANT = "important"
    STARRED = "starred"
    UNKNOWN = "unknown"


class IdentifierType(enum.StrEnum):
    CHAT_ATTENDEE_ID = "CHAT_ATTENDEE_ID"
    PHONE_NUMBER = "PHONE_NUMBER"
    EMAIL_ADDRESS = "EMAIL_ADDRESS"
    MESSENGER_ID = "MESSENGER_ID"
    MESSENGER_THREAD_ID = "MESSENGER_THREAD_ID"
    TIKTOK_ID = "TIKTOK_ID"
    TIKTOK_THREAD_ID = "TIKTOK_THREAD_ID"
    TWITTER_ID = "TWITTER_ID"
    TWITTER_THREAD_ID = "TWITTER_THREAD_ID"
    INSTAGRAM_ID = "INSTAGRAM_ID"
    INSTAGRAM_THREAD_ID = "INSTAGRAM_THREAD_ID"
    LINKEDIN_ID = "LINKEDIN_ID"
    LINKEDIN_THREAD_ID = "LINKEDIN_THREAD_ID"
    GROUP_THREAD = "GROUP_THREAD"


def _enum(cls: type[E], value: V) -> E | V:
    try:
        return cls(value)
    except ValueError:
        return value


def _members(cls: type[E]) -> dict[object, E]:
    return {member.value: member for member in cls}


def _member(members: Mapping[object, E], value: V) -> E | V:
    """``_enum`` by a prebuilt value→member table: the same result, without ``Enum.__call__``."""
    try:
        return members.get(value, value)
    except TypeError:  # unhashable: never a member's value
        return value


_ACCOUNT_TYPES = _members(AccountType)
_CHAT_TYPES = _members(ChatType)
_EMAIL_KINDS = _members(EmailKind)
_FOLDER_ROLES = _members(FolderRole)
_IDENTIFIER_TYPES = _members(IdentifierType)


def _timestamp(value: str) -> datetime:
    """``parse_timestamp`` with a fast path for the usual ``...Z`` (already UTC)."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is UTC:
        return parsed
    return parse_timestamp(value)


def _optional_timestamp(value: object) -> datetime | None:
    return _timestamp(value) if isinstance(value, str) and value else None


def _flag(value: object) -> bool:
    """UniPile sends most booleans as 0/1 and a few as JSON booleans; accept both."""
    return bool(value)


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _strings(value: object) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _mappings(value: object) -> Iterable[Mapping[str, Any]]:
    return (v for v in value if isinstance(v, Mapping)) if isinstance(value, list) else ()


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list; pass ``cursor`` back untouched to get the next, ``None`` = last page."""

    items: tuple[T, ...]
    cursor: str | None


@dataclass(frozen=True, slots=True)
class AccountSource:
    id: str
    status: SourceStatus | str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(id=data["id"], status=_enum(SourceStatus, data["status"]))


def _own_identifier(params: Mapping[str, Any]) -> str | None:
    mail = params.get("mail")
    if isinstance(mail, Mapping):
        return _opt_str(mail.get("username")) or _opt_str(mail.get("imap_user"))
    im = params.get("im")
    if isinstance(im, Mapping):
        for key in ("phone_number", "id", "user_id", "username"):
            if found := _opt_str(im.get(key)):
                return found
    return None


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    type: AccountType | str
    created_at: datetime
    connection_params: Mapping[str, Any]
    sources: tuple[AccountSource, ...]
    own_identifier: str | None
    """The account's own address: mail username, WhatsApp phone digits, or provider member id."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        params = data.get("connection_params") or {}
        return cls(
            id=data["id"],
            name=data.get("name") or "",
            type=_enum(AccountType, data["type"]),
            created_at=parse_timestamp(data["created_at"]),
            connection_params=params,
            sources=tuple(AccountSource.from_json(s) for s in _mappings(data.get("sources"))),
            own_identifier=_own_identifier(params),
        )


@dataclass(frozen=True, slots=True)
class Reaction:
    value: str
    sender_id: str
    is_sender: bool

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(data["value"], data["sender_id"], _flag(data.get("is_sender")))


@dataclass(frozen=True, slots=True)
class MessageAttachment:
    id: str
    type: str
    unavailable: bool
    mimetype: str | None
    file_size: int | None
    file_name: str | None
    url: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            id=data.get("id") or "",
            type=data.get("type") or "file",
            unavailable=_flag(data.get("unavailable")),
            mimetype=_opt_str(data.get("mimetype")),
            file_size=_opt_int(data.get("file_size")),
            file_name=_opt_str(data.get("file_name")),
            url=_opt_str(data.get("url")),
        )


def _seen_by(value: object) -> Mapping[str, bool | datetime]:
    if not isinstance(value, Mapping):
        return {}
    return {
        user: parse_timestamp(seen) if isinstance(seen, str) else bool(seen)
        for user, seen in value.items()
    }


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    account_id: str
    chat_id: str
    chat_provider_id: str | None
    provider_id: str | None
    sender_id: str
    sender_attendee_id: str | None
    text: str | None
    subject: str | None
    timestamp: datetime
    is_sender: bool
    seen: bool
    seen_by: Mapping[str, bool | datetime]
    delivered: bool
    hidden: bool
    deleted: bool
    edited: bool
    is_event: bool
    attachments: tuple[MessageAttachment, ...]
    reactions: tuple[Reaction, ...]
    quoted: Mapping[str, Any] | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        quoted = data.get("quoted")
        return cls(
            id=data["id"],
            account_id=data["account_id"],
            chat_id=data["chat_id"],
            chat_provider_id=_opt_str(data.get("chat_provider_id")),
            provider_id=_opt_str(data.get("provider_id")),
            sender_id=data.get("sender_id") or "",
            sender_attendee_id=_opt_str(data.get("sender_attendee_id")),
            text=_opt_str(data.get("text")),
            subject=_opt_str(data.get("subject")),
            timestamp=parse_timestamp(data["timestamp"]),
            is_sender=_flag(data.get("is_sender")),
            seen=_flag(data.get("seen")),
            seen_by=_seen_by(data.get("seen_by")),
            delivered=_flag(data.get("delivered")),
            hidden=_flag(data.get("hidden")),
            deleted=_flag(data.get("deleted")),
            edited=_flag(data.get("edited")),
            is_event=_flag(data.get("is_event")),
            attachments=tuple(map(MessageAttachment.from_json, _mappings(data.get("attachments")))),
            reactions=tuple(map(Reaction.from_json, _mappings(data.get("reactions")))),
            quoted=quoted if isinstance(quoted, Mapping) else None,
        )


def _muted_until(value: object) -> datetime | None:
    if value == -1:
        return MUTED_FOREVER
    return parse_optional_timestamp(value)


def _last_message(data: Mapping[str, Any]) -> Message | None:
    # GET /chats/{id} names it `lastMessage`; accept the snake_case spelling too.
    raw = data.get("lastMessage", data.get("last_message"))
    return Message.from_json(raw) if isinstance(raw, Mapping) else None


@dataclass(frozen=True, slots=True)
class Chat:
    id: str
    account_id: str
    account_type: AccountType | str
    provider_id: str
    attendee_provider_id: str | None
    name: str | None
    subject: str | None
    type: ChatType | int
    timestamp: datetime | None
    unread_count: int
    archived: bool
    muted_until: datetime | None
    """``None`` = not muted; ``MUTED_FOREVER`` (``datetime.max``) for UniPile's ``-1``."""
    read_only: int
    """0 = writable, 1 = read only, 2 = as UniPile sends it (meaning undocumented)."""
    folder: tuple[str, ...]
    last_message: Message | None
    """Only filled by ``get_chat``; list items carry no message."""

    @property
    def is_group(self) -> bool:
        return self.type in (ChatType.GROUP, ChatType.CHANNEL) or is_whatsapp_group_jid(
            self.provider_id
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            id=data["id"],
            account_id=data["account_id"],
            account_type=_member(_ACCOUNT_TYPES, data.get("account_type", "")),
            provider_id=data.get("provider_id") or "",
            attendee_provider_id=_opt_str(data.get("attendee_provider_id")),
            name=_opt_str(data.get("name")),
            subject=_opt_str(data.get("subject")),
            type=_member(_CHAT_TYPES, data.get("type", 0)),
            timestamp=_optional_timestamp(data.get("timestamp")),
            unread_count=_opt_int(data.get("unread_count")) or 0,
            archived=_flag(data.get("archived")),
            muted_until=_muted_until(data.get("muted_until")),
            read_only=_opt_int(data.get("read_only")) or 0,
            folder=_strings(data.get("folder")),
            last_message=_last_message(data),
        )


# What a head keeps of its item's JSON once the item is parsed: nothing.
_PARSED: Mapping[str, Any] = MappingProxyType({})


class ChatHead:
    """A chat of a list read only as far as ordering it needs: its id, account and timestamp.
    The whole chat (`chat`) is parsed when first asked for, and kept (see `EmailHead`)."""

    __slots__ = ("_chat", "_data", "account_id", "id", "timestamp")

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.id: str = data["id"]
        self.account_id: str = data["account_id"]
        self.timestamp: datetime | None = _optional_timestamp(data.get("timestamp"))
        self._data = data
        self._chat: Chat | None = None

    def chat(self) -> Chat:
        if self._chat is None:
            self._chat = Chat.from_json(self._data)
            self._data = _PARSED
        return self._chat

    def __repr__(self) -> str:
        return f"ChatHead(id={self.id!r}, timestamp={self.timestamp!r})"


@dataclass(frozen=True, slots=True)
class ChatAttendee:
    id: str
    account_id: str
    provider_id: str
    name: str
    is_self: bool
    hidden: bool
    picture_url: str | None
    profile_url: str | None
    specifics: Mapping[str, Any]
    """Provider-specific extras as sent (LinkedIn: member_urn, headline, network_distance...)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        specifics = data.get("specifics")
        return cls(
            id=data["id"],
            account_id=data["account_id"],
            provider_id=data["provider_id"],
            name=data.get("name") or "",
            is_self=_flag(data.get("is_self")),
            hidden=_flag(data.get("hidden")),
            picture_url=_opt_str(data.get("picture_url")),
            profile_url=_opt_str(data.get("profile_url")),
            specifics=specifics if isinstance(specifics, Mapping) else {},
        )


@dataclass(frozen=True, slots=True)
class EmailAttendee:
    identifier: str
    identifier_type: IdentifierType | str
    display_name: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        identifier = data["identifier"]
        identifier_type = _member(_IDENTIFIER_TYPES, data.get("identifier_type", "EMAIL_ADDRESS"))
        display_name = data.get("display_name")
        return cls(
            identifier, identifier_type, display_name if isinstance(display_name, str) else None
        )


@dataclass(frozen=True, slots=True)
class EmailAttachment:
    id: str
    name: str
    size: int
    mime: str | None
    extension: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            id=data.get("id") or "",
            name=data.get("name") or "",
            size=_opt_int(data.get("size")) or 0,
            mime=_opt_str(data.get("mime")),
            extension=_opt_str(data.get("extension")),
        )


@dataclass(frozen=True, slots=True)
class EmailReference:
    message_id: str | None
    id: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(_opt_str(data.get("message_id")), _opt_str(data.get("id")))


def _is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    return type(value) is dict or isinstance(value, Mapping)


# The same few people are on most emails of a mailbox: parsed attendees (immutable) are shared.
_ATTENDEE_CACHE: dict[tuple[str, str, str | None], EmailAttendee] = {}
_ATTENDEE_CACHE_SIZE = 4096


def _attendee(data: Mapping[str, Any]) -> EmailAttendee:
    get = data.get
    identifier = data["identifier"]
    identifier_type = get("identifier_type", "EMAIL_ADDRESS")
    display_name = get("display_name")
    if (
        type(identifier) is not str
        or type(identifier_type) is not str
        or (display_name is not None and type(display_name) is not str)
    ):  # only plain strings are cached: equal keys must mean an equal parse
        return EmailAttendee.from_json(data)
    key = (identifier, identifier_type, display_name)
    cached = _ATTENDEE_CACHE.get(key)
    if cached is not None:
        return cached
    attendee = EmailAttendee.from_json(data)
    if len(_ATTENDEE_CACHE) >= _ATTENDEE_CACHE_SIZE:
        _ATTENDEE_CACHE.clear()
    _ATTENDEE_CACHE[key] = attendee
    return attendee


def _attendees(value: object) -> tuple[EmailAttendee, ...]:
    if not isinstance(value, list) or not value:
        return ()
    return tuple([_attendee(v) for v in value if type(v) is dict or isinstance(v, Mapping)])


@dataclass(frozen=True, slots=True)
class Email:
    id: str
    account_id: str
    kind: EmailKind | str
    type: AccountType | str
    date: datetime
    read_date: datetime | None
    role: FolderRole | str
    folders: tuple[str, ...]
    folder_ids: tuple[str, ...]
    message_id: str
    provider_id: str
    thread_id: str | None
    subject: str | None
    from_attendee: EmailAttendee | None
    """``None`` only for ``0_ref`` emails."""
    to_attendees: tuple[EmailAttendee, ...]
    cc_attendees: tuple[EmailAttendee, ...]
    bcc_attendees: tuple[EmailAttendee, ...]
    reply_to_attendees: tuple[EmailAttendee, ...]
    body: str
    body_plain: str
    has_attachments: bool
    attachments: tuple[EmailAttachment, ...]
    in_reply_to: EmailReference | None
    origin: str | None

    @property
    def is_read(self) -> bool:
        return self.read_date is not None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        # The hot path of every inbox page (hundreds of emails each): helpers inlined, enums looked
        # up in prebuilt tables. Same results, and the same evaluation order, as the helpers.
        get = data.get
        id_ = data["id"]
        account_id = data["account_id"]
        kind = _member(_EMAIL_KINDS, get("kind", ""))
        type_ = _member(_ACCOUNT_TYPES, get("type", ""))
        date = _timestamp(data["date"])
        read_date = _optional_timestamp(get("read_date"))
        role = _member(_FOLDER_ROLES, get("role", "unknown"))
        folders = get("folders")
        folder_ids = get("folderIds")
        thread_id = get("thread_id")
        subject = get("subject")
        from_attendee = get("from_attendee")
        attachments = get("attachments")
        in_reply_to = get("in_reply_to")
        origin = get("origin")
        return cls(
            id_,
            account_id,
            kind,
            type_,
            date,
            read_date,
            role,
            tuple([v for v in folders if isinstance(v, str)]) if isinstance(folders, list) else (),
            tuple([v for v in folder_ids if isinstance(v, str)])
            if isinstance(folder_ids, list)
            else (),
            get("message_id") or "",
            get("provider_id") or "",
            thread_id if isinstance(thread_id, str) else None,
            subject if isinstance(subject, str) else None,
            _attendee(from_attendee) if _is_mapping(from_attendee) else None,
            _attendees(get("to_attendees")),
            _attendees(get("cc_attendees")),
            _attendees(get("bcc_attendees")),
            _attendees(get("reply_to_attendees")),
            get("body") or "",
            get("body_plain") or "",
            bool(get("has_attachments")),
            tuple(map(EmailAttachment.from_json, _mappings(attachments))) if attachments else (),
            EmailReference.from_json(in_reply_to) if _is_mapping(in_reply_to) else None,
            origin if isinstance(origin, str) else None,
        )


class EmailHead:
    """An email of a list read only as far as ordering and grouping it need: its id, account,
    date and thread. The whole email (`email`) is parsed when first asked for, and kept: a page
    of the inbox shows a few threads of the hundreds of emails a mailbox window lists.

    The fields read here are the ones `Email.from_json` requires, read the same way, so an email
    that would fail to parse for want of them fails here, when its list is read. The cost is
    memory: a head keeps its email's JSON until parsed, the parsed email only after (a cached
    200-email page held this way takes about 2.7 times the memory of its parsed emails)."""

    __slots__ = ("_data", "_email", "account_id", "date", "id", "thread", "thread_id")

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.id: str = data["id"]
        self.account_id: str = data["account_id"]
        self.date: datetime = _timestamp(data["date"])
        thread_id = data.get("thread_id")
        self.thread_id: str | None = thread_id if isinstance(thread_id, str) else None
        # The thread the email belongs to: an email without a thread id is a thread alone.
        self.thread: str = self.thread_id or self.id
        self._data = data
        self._email: Email | None = None

    def email(self) -> Email:
        if self._email is None:
            self._email = Email.from_json(self._data)
            self._data = _PARSED
        return self._email

    def __repr__(self) -> str:
        return f"EmailHead(id={self.id!r}, thread={self.thread!r}, date={self.date!r})"


@dataclass(frozen=True, slots=True)
class Folder:
    id: str
    name: str
    account_id: str
    provider_id: str
    role: FolderRole | str
    nb_mails: int | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            id=data["id"],
            name=data.get("name") or "",
            account_id=data["account_id"],
            provider_id=data.get("provider_id") or "",
            role=_enum(FolderRole, data.get("role", "unknown")),
            nb_mails=_opt_int(data.get("nb_mails")),
        )


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    name: str | None
    request_url: str
    enabled: bool
    format: str
    headers: tuple[tuple[str, str], ...]
    account_ids: tuple[str, ...]
    """Empty = every current and future account."""
    events: tuple[str, ...]
    source: str | None
    """Not in UniPile's list schema; filled when the service (or the sandbox) sends it."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            id=data["id"],
            name=_opt_str(data.get("name")),
            request_url=data["request_url"],
            enabled=_flag(data.get("enabled", True)),
            format=data.get("format") or "json",
            headers=tuple((h["key"], h["value"]) for h in _mappings(data.get("headers"))),
            account_ids=tuple(a["id"] for a in _mappings(data.get("account_ids"))),
            events=_strings(data.get("events")),
            source=_opt_str(data.get("source")),
        )


@dataclass(frozen=True, slots=True)
class MessageSent:
    message_id: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(_opt_str(data.get("message_id")))


@dataclass(frozen=True, slots=True)
class EmailSent:
    tracking_id: str | None
    id: str | None
    provider_id: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            _opt_str(data.get("tracking_id")),
            _opt_str(data.get("id")),
            _opt_str(data.get("provider_id")),
        )
