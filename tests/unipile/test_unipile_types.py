"""Parsing: the reference's SDK-checked examples, tolerance, and identifier helpers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from unipile import (
    MUTED_FOREVER,
    Account,
    AccountType,
    Chat,
    ChatAttendee,
    ChatHead,
    ChatType,
    Email,
    EmailHead,
    EmailKind,
    FolderRole,
    IdentifierType,
    ListCall,
    Message,
    SourceStatus,
    format_timestamp,
    is_whatsapp_group_jid,
    parse_timestamp,
    phone_to_whatsapp_jid,
    whatsapp_jid_to_phone,
)

EXAMPLES: dict[str, Any] = json.loads(
    (Path(__file__).parent / "sdk_examples.json").read_text(encoding="utf-8")
)


def utc(*parts: int) -> datetime:
    return datetime(*parts).replace(tzinfo=UTC)  # type: ignore[arg-type]


def test_account_list_example() -> None:
    whatsapp, gmail, imap = map(Account.from_json, EXAMPLES["AccountList"]["items"])
    assert whatsapp.type is AccountType.WHATSAPP
    assert whatsapp.own_identifier == "33612345678"
    assert whatsapp.created_at == utc(2025, 1, 15, 9, 30)
    assert gmail.type is AccountType.GOOGLE_OAUTH
    assert gmail.own_identifier == "alice@example.com"
    assert imap.own_identifier == "bob@example.org"
    assert imap.sources[0].status is SourceStatus.CREDENTIALS


def test_chat_list_example() -> None:
    single, group = map(Chat.from_json, EXAMPLES["ChatList"]["items"])
    assert single.type is ChatType.SINGLE and not single.is_group
    assert single.timestamp == utc(2025, 2, 1, 12, 34, 56, 789000)
    assert single.unread_count == 2
    assert single.archived is False
    assert single.muted_until is None
    assert single.attendee_provider_id == "33698765432@s.whatsapp.net"
    assert group.type is ChatType.GROUP and group.is_group
    assert group.muted_until == MUTED_FOREVER
    assert group.last_message is None


def test_message_example() -> None:
    message = Message.from_json(EXAMPLES["Message"])
    assert message.is_sender is True and message.seen is True and message.delivered is True
    assert message.hidden is False and message.deleted is False and message.is_event is False
    assert message.text is None
    assert message.timestamp == utc(2025, 2, 1, 12, 35, 10)
    assert message.attachments[0].type == "img"
    assert message.attachments[0].unavailable is False
    assert message.attachments[0].file_size == 20480
    assert message.reactions[0].value == "👍" and message.reactions[0].is_sender is False
    assert message.seen_by == {"33698765432@s.whatsapp.net": utc(2025, 2, 1, 12, 36)}


def test_chat_attendee_list_example() -> None:
    other, me = map(ChatAttendee.from_json, EXAMPLES["ChatAttendeeList"]["items"])
    assert other.is_self is False and me.is_self is True
    assert other.provider_id == "33698765432@s.whatsapp.net"
    assert other.picture_url == "https://example.invalid/pic.jpg"
    assert me.specifics == {}


def test_email_list_example() -> None:
    (email,) = map(Email.from_json, EXAMPLES["EmailList"]["items"])
    assert email.kind is EmailKind.FULL
    assert email.date == utc(2025, 2, 2, 8)
    assert email.read_date is None and email.is_read is False
    assert email.role is FolderRole.INBOX
    assert email.folder_ids == ("FoLdErIdInboxXXXXXXXXX",)
    assert email.from_attendee is not None
    assert email.from_attendee.identifier == "jean@example.com"
    assert email.from_attendee.identifier_type is IdentifierType.EMAIL_ADDRESS
    assert email.from_attendee.display_name == "Jean Dupont"
    assert email.to_attendees[0].identifier == "alice@example.com"
    assert email.has_attachments is False
    assert email.body_plain == "Hello" and email.thread_id == "18d5c2f1a2b3c4d5"


def test_an_email_head_reads_only_what_ordering_needs_and_parses_the_rest_once() -> None:
    (data,) = EXAMPLES["EmailList"]["items"]
    head = EmailHead(data)
    assert (head.id, head.account_id) == (data["id"], data["account_id"])
    assert head.date == utc(2025, 2, 2, 8)
    assert head.thread_id == head.thread == "18d5c2f1a2b3c4d5"
    email = head.email()
    assert email == Email.from_json(data)
    assert head.email() is email, "parsed once, then kept"


def test_a_chat_head_reads_only_what_ordering_needs_and_parses_the_rest_once() -> None:
    for data in EXAMPLES["ChatList"]["items"]:
        head = ChatHead(data)
        assert (head.id, head.account_id) == (data["id"], data["account_id"])
        chat = head.chat()
        assert chat == Chat.from_json(data) and head.timestamp == chat.timestamp
        assert head.chat() is chat, "parsed once, then kept"


def test_an_email_head_without_a_thread_is_a_thread_alone() -> None:
    (data,) = EXAMPLES["EmailList"]["items"]
    head = EmailHead({**data, "thread_id": None})
    assert head.thread_id is None and head.thread == data["id"]


@pytest.mark.parametrize("field", ["id", "account_id", "date"])
def test_an_email_head_fails_where_the_email_would_for_want_of_a_required_field(
    field: str,
) -> None:
    (data,) = EXAMPLES["EmailList"]["items"]
    broken = {key: value for key, value in data.items() if key != field}
    with pytest.raises(KeyError):
        Email.from_json(broken)
    with pytest.raises(KeyError):
        EmailHead(broken)


def test_a_list_parsed_another_way_is_another_page_to_a_cache() -> None:
    plain = ListCall("/emails", {"limit": "5"}, None, Email.from_json)
    heads = ListCall("/emails", {"limit": "5"}, None, EmailHead, shape="heads")
    assert plain.key == "/emails?limit=5"
    assert heads.key != plain.key and heads.key.startswith(plain.key)


def test_get_chat_shape_carries_last_message() -> None:
    data = {**EXAMPLES["ChatList"]["items"][0], "lastMessage": EXAMPLES["Message"]}
    chat = Chat.from_json(data)
    assert chat.last_message is not None and chat.last_message.id == "MsGId2XXXXXXXXXXXXXXXX"


def test_unknown_values_are_kept_not_fatal() -> None:
    data = dict(EXAMPLES["ChatList"]["items"][0], type=7, account_type="BLUESKY", brand_new=1)
    chat = Chat.from_json(data)
    assert chat.type == 7 and chat.account_type == "BLUESKY"
    email_data = dict(EXAMPLES["EmailList"]["items"][0], kind="3_future", role="snoozed")
    email_data["from_attendee"] = {"identifier": "x", "identifier_type": "MASTODON_ID"}
    email = Email.from_json(email_data)
    assert email.kind == "3_future" and email.role == "snoozed"
    assert email.from_attendee is not None and email.from_attendee.identifier_type == "MASTODON_ID"


def test_timestamps_round_trip() -> None:
    moment = utc(2025, 2, 1, 12, 34, 56, 789000)
    assert format_timestamp(moment) == "2025-02-01T12:34:56.789Z"
    assert parse_timestamp("2025-02-01T12:34:56.789Z") == moment
    with pytest.raises(ValueError, match="aware"):
        format_timestamp(datetime(2025, 1, 1))


@pytest.mark.parametrize(
    ("jid", "digits"),
    [
        ("33612345678@s.whatsapp.net", "33612345678"),
        ("33612345678:12@s.whatsapp.net", "33612345678"),
        ("120363012345678901@g.us", None),
        ("ACoAAB123", None),
    ],
)
def test_whatsapp_jid_to_phone(jid: str, digits: str | None) -> None:
    assert whatsapp_jid_to_phone(jid) == digits


def test_whatsapp_group_and_builder() -> None:
    assert is_whatsapp_group_jid("120363012345678901@g.us")
    assert not is_whatsapp_group_jid("33612345678@s.whatsapp.net")
    assert phone_to_whatsapp_jid("+33 6 12 34 56 78") == "33612345678@s.whatsapp.net"
