"""UniPile JSON objects as the sandbox emits them.

They follow the reference's intersection rule: what the SDK 1.9.3 validators require (0/1
integers, `muted_until` always present, UTC-ms timestamps) plus the OAS-only fields
(`deprecated_id`, `folderIds`...). One builder per object, used by the demo and by live mode.
"""

from __future__ import annotations

import base64
import random
import zlib
from typing import Any

JSON = dict[str, Any]


def new_id(rng: random.Random) -> str:
    """A 22-character id, like UniPile's 128-bit ids."""
    return base64.urlsafe_b64encode(rng.getrandbits(128).to_bytes(16, "big")).decode()[:22]


def account_json(
    account_id: str, account_type: str, name: str, created_at: str, params: JSON, source: str
) -> JSON:
    return {
        "object": "Account",
        "id": account_id,
        "type": account_type,
        "name": name,
        "created_at": created_at,
        "connection_params": params,
        # Guess: the `sources[].id` format is not documented.
        "sources": [{"id": f"{account_id}_{source}", "status": "OK"}],
        "groups": [],
    }


def chat_json(
    *,
    chat_id: str,
    account: JSON,
    provider_id: str,
    name: str | None,
    group: bool,
    timestamp: str,
    attendee_provider_id: str | None = None,
) -> JSON:
    chat: JSON = {
        "object": "Chat",
        "id": chat_id,
        "account_id": account["id"],
        "account_type": account["type"],
        "provider_id": provider_id,
        "name": name,
        "type": 1 if group else 0,
        "timestamp": timestamp,
        "unread_count": 0,
        "archived": 0,
        "muted_until": None,
        "read_only": 0,
        "disabledFeatures": [],
    }
    if attendee_provider_id is not None:
        chat["attendee_provider_id"] = attendee_provider_id
    if account["type"] == "LINKEDIN":
        chat["folder"] = ["INBOX"]
    return chat


def message_json(
    *,
    message_id: str,
    chat: JSON,
    sender: JSON,
    text: str,
    timestamp: str,
    provider_id: str,
) -> JSON:
    """``sender`` is the sender's ChatAttendee object."""
    return {
        "object": "Message",
        "id": message_id,
        "account_id": chat["account_id"],
        "chat_id": chat["id"],
        "chat_provider_id": chat["provider_id"],
        "provider_id": provider_id,
        "sender_id": sender["provider_id"],
        "sender_attendee_id": sender["id"],
        "text": text,
        "attachments": [],
        "timestamp": timestamp,
        "is_sender": sender["is_self"],
        "reactions": [],
        "seen": sender["is_self"],
        "seen_by": {},
        "hidden": 0,
        "deleted": 0,
        "edited": 0,
        "is_event": 0,
        "delivered": 1,
        "behavior": None,
        "original": "{}",
    }


def attendee_json(
    *, attendee_id: str, account: JSON, provider_id: str, name: str, is_self: bool
) -> JSON:
    attendee: JSON = {
        "object": "ChatAttendee",
        "id": attendee_id,
        "account_id": account["id"],
        "provider_id": provider_id,
        "name": name,
        "is_self": int(is_self),
        "hidden": 0,
    }
    if account["type"] == "LINKEDIN":
        attendee["profile_url"] = f"https://www.linkedin.com/in/{provider_id}"
        attendee["specifics"] = {
            "provider": "LINKEDIN",
            "member_urn": f"urn:li:member:{zlib.crc32(provider_id.encode())}",
            "network_distance": "DISTANCE_1",
        }
    return attendee


def email_attendee(address: str, display_name: str | None) -> JSON:
    attendee: JSON = {"identifier": address, "identifier_type": "EMAIL_ADDRESS"}
    if display_name:
        attendee["display_name"] = display_name
    return attendee


def email_json(
    *,
    email_id: str,
    account: JSON,
    folder: JSON,
    date: str,
    read_date: str | None,
    thread_id: str,
    subject: str,
    sender: JSON,
    to: list[JSON],
    cc: list[JSON],
    body_plain: str,
    in_reply_to: JSON | None = None,
    attachments: list[JSON] | None = None,
    body_html: str | None = None,
) -> JSON:
    domain = "mail.gmail.com" if account["type"] == "GOOGLE_OAUTH" else "outlook.com"
    email: JSON = {
        "object": "Email",
        "id": email_id,
        "deprecated_id": email_id,
        "kind": "2_full",
        "account_id": account["id"],
        "type": account["type"],
        "date": date,
        "role": folder["role"],
        "folders": [folder["name"]],
        "folderIds": [folder["id"]],
        "read_date": read_date,
        "message_id": f"<{email_id}@{domain}>",
        "provider_id": email_id.lower().replace("-", "").replace("_", "")[:16],
        "thread_id": thread_id,
        "subject": subject,
        "from_attendee": sender,
        "to_attendees": to,
        "cc_attendees": cc,
        "bcc_attendees": [],
        "reply_to_attendees": [],
        "body": body_html or "".join(f"<p>{line}</p>" for line in body_plain.split("\n")),
        "body_plain": body_plain,
        "has_attachments": bool(attachments),
        "attachments": attachments or [],
        "origin": "unipile" if folder["role"] == "sent" else "external",
    }
    if in_reply_to is not None:
        email["in_reply_to"] = in_reply_to
    return email


def email_meta(email: JSON) -> JSON:
    """The ``1_meta`` view that ``meta_only=true`` returns: same object, bodies exactly empty."""
    return {**email, "kind": "1_meta", "body": "", "body_plain": ""}


def folder_json(*, folder_id: str, account_id: str, name: str, role: str, provider_id: str) -> JSON:
    return {
        "object": "Folder",
        "id": folder_id,
        "name": name,
        "account_id": account_id,
        "role": role,
        "provider_id": provider_id,
    }


def problem(status: int, type_: str, title: str, detail: str | None = None) -> JSON:
    body: JSON = {"status": status, "type": f"errors/{type_}", "title": title}
    if detail is not None:
        body["detail"] = detail
    return body
