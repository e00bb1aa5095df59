"""The sandbox's in-memory UniPile data: lookups, filters, and the writes sends and live mode do."""

from __future__ import annotations

import bisect
import heapq
import random
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta

from unipile._identifiers import phone_to_whatsapp_jid
from unipile._timestamps import format_timestamp, parse_timestamp
from unipile.sandbox._paging import SortKey, bool_filter, by_date, timestamp_filter
from unipile.sandbox._problems import not_found
from unipile.sandbox._shapes import (
    JSON,
    attendee_json,
    chat_json,
    email_attendee,
    email_json,
    message_json,
    new_id,
)
from unipile.sandbox.demo import Demo

__all__ = ["DISCONNECTED_STATUSES", "SandboxStore", "comma_list"]

# Guess: the reference says non-OK accounts still answer GETs; the sandbox follows the project's
# need to exercise reconnect flows and refuses account-scoped calls for these statuses.
DISCONNECTED_STATUSES = frozenset({"CREDENTIALS", "ERROR", "PERMISSIONS", "STOPPED"})


def comma_list(value: str | None) -> set[str] | None:
    """A filter taking one value or a comma-separated list (``account_id``, ``any_email``)."""
    return {part.strip() for part in value.split(",") if part.strip()} if value else None


def _address_list(value: str | None) -> set[str] | None:
    # Addresses match case-insensitively, as mail servers treat them.
    values = comma_list(value)
    return None if values is None else {v.lower() for v in values}


def _addresses(email: JSON, *keys: str) -> set[str]:
    found: set[str] = set()
    for key in keys:
        value = email.get(key)
        attendees = value if isinstance(value, list) else [value] if value else []
        found.update(a["identifier"].lower() for a in attendees)
    return found


_email_order = by_date("date")
"""Emails' list order, ``(date, id)``; lists give it newest first."""


def _newest_first(emails: list[JSON], before: SortKey | None) -> Iterator[JSON]:
    """An account's emails (kept oldest first) from newest to oldest, those before ``before``."""
    end = len(emails) if before is None else bisect.bisect_left(emails, before, key=_email_order)
    return (emails[index] for index in range(end - 1, -1, -1))


class _Window:
    """The exclusive ``before``/``after`` filters, parsed (and validated) once per request."""

    def __init__(self, filters: Mapping[str, str]) -> None:
        self.before = timestamp_filter(filters, "before")
        self.after = timestamp_filter(filters, "after")

    def __contains__(self, moment: str) -> bool:
        return (self.before is None or moment < self.before) and (
            self.after is None or moment > self.after
        )


class SandboxStore:
    def __init__(self, demo: Demo, rng: random.Random) -> None:
        self.rng = rng
        self.accounts: dict[str, JSON] = {}
        self.chats: dict[str, JSON] = {}
        self.messages: dict[str, JSON] = {}
        self.chat_messages: dict[str, list[JSON]] = defaultdict(list)
        self.attendees: dict[str, JSON] = {}
        self.attendee_by_provider: dict[tuple[str, str], JSON] = {}
        self.chat_attendee_ids: dict[str, list[str]] = {}
        self.emails: dict[str, JSON] = {}
        # Each account's emails, oldest first by (date, id): a page is a bisection and a slice,
        # not a sort of the whole organisation's mail (the bulk mailbox holds thousands).
        self.account_emails: dict[str, list[JSON]] = defaultdict(list)
        self.folders: list[JSON] = []
        self._clock = datetime.min.replace(tzinfo=UTC)
        self.add_data(demo, [a.data for a in demo.accounts])

    def add_data(self, demo: Demo, accounts: Iterable[JSON]) -> None:
        """Serve ``accounts`` and ``demo``'s chats, messages, attendees, emails and folders."""
        self.accounts.update((a["id"], _copy(a)) for a in accounts)
        for chat in demo.chats:
            self.chats[chat["id"]] = dict(chat)
        for message in map(dict, demo.messages):
            self.messages[message["id"]] = message
            self.chat_messages[message["chat_id"]].append(message)
        for attendee in map(dict, demo.attendees):
            self.attendees[attendee["id"]] = attendee
            self.attendee_by_provider[(attendee["account_id"], attendee["provider_id"])] = attendee
        self.chat_attendee_ids.update((k, list(v)) for k, v in demo.chat_attendee_ids.items())
        lanes: set[str] = set()
        for email in map(dict, demo.emails):
            self.emails[email["id"]] = email
            self.account_emails[email["account_id"]].append(email)
            lanes.add(email["account_id"])
        for account_id in lanes:
            self.account_emails[account_id].sort(key=_email_order)
        self.folders.extend(dict(f) for f in demo.folders)
        moments = [m["timestamp"] for m in demo.messages] + [e["date"] for e in demo.emails]
        if moments:
            self._clock = max(self._clock, parse_timestamp(max(moments)))

    def remove_account(self, account_id: str) -> JSON:
        """Forget the account and everything of it; later lookups of any of it are 404s."""
        account = self.accounts.pop(self.account(account_id)["id"])
        chat_ids = [c for c, chat in self.chats.items() if chat["account_id"] == account_id]
        for chat_id in chat_ids:
            del self.chats[chat_id], self.chat_attendee_ids[chat_id]
            for message in self.chat_messages.pop(chat_id, ()):
                del self.messages[message["id"]]
        self.attendees = {k: a for k, a in self.attendees.items() if a["account_id"] != account_id}
        self.attendee_by_provider = {
            k: a for k, a in self.attendee_by_provider.items() if k[0] != account_id
        }
        for email in self.account_emails.pop(account_id, ()):
            del self.emails[email["id"]]
        self.folders = [f for f in self.folders if f["account_id"] != account_id]
        return account

    def now(self) -> str:
        """Wall-clock time, but always after every item so far (the demo may be in the future)."""
        self._clock = max(datetime.now(UTC), self._clock + timedelta(milliseconds=1))
        return format_timestamp(self._clock)

    # -- lookups --------------------------------------------------------------------------

    def account(self, account_id: str) -> JSON:
        return _get(self.accounts, account_id, "Account")

    def chat(self, chat_id: str) -> JSON:
        return _get(self.chats, chat_id, "Chat")

    def message(self, message_id: str) -> JSON:
        return _get(self.messages, message_id, "Message")

    def email(self, email_id: str, account_id: str | None = None) -> JSON:
        if email_id in self.emails:
            return self.emails[email_id]
        # With an account_id, UniPile also accepts the provider's id of the email.
        for email in self.emails.values():
            if email["account_id"] == account_id and email["provider_id"] == email_id:
                return email
        raise not_found("Email")

    def status(self, account_id: str) -> str:
        return str(self.account(account_id)["sources"][0]["status"])

    def self_attendee(self, account_id: str) -> JSON:
        return next(
            a for a in self.attendees.values() if a["account_id"] == account_id and a["is_self"]
        )

    def chat_attendees(self, chat_id: str) -> list[JSON]:
        return [self.attendees[a] for a in self.chat_attendee_ids[self.chat(chat_id)["id"]]]

    def last_message(self, chat_id: str) -> JSON | None:
        messages = self.chat_messages.get(chat_id)
        return max(messages, key=lambda m: (m["timestamp"], m["id"])) if messages else None

    def own_address(self, account_id: str) -> str:
        mail = self.account(account_id)["connection_params"]["mail"]
        # IMAP accounts (MAIL) name their address imap_user; OAuth ones, username.
        return str(mail.get("username") or mail["imap_user"])

    # -- filtered lists -------------------------------------------------------------------

    def filter_chats(self, filters: Mapping[str, str]) -> Iterable[JSON]:
        accounts = comma_list(filters.get("account_id"))
        kind, unread = filters.get("account_type"), bool_filter(filters, "unread")
        window = _Window(filters)
        return (
            chat
            for chat in self.chats.values()
            if (accounts is None or chat["account_id"] in accounts)
            and (kind is None or chat["account_type"] == kind)
            and (unread is None or (chat["unread_count"] > 0) == unread)
            and chat["timestamp"] in window
        )

    def filter_messages(self, chat_id: str, filters: Mapping[str, str]) -> Iterable[JSON]:
        sender = filters.get("sender_id")
        window = _Window(filters)
        return (
            message
            for message in self.chat_messages.get(self.chat(chat_id)["id"], ())
            if (sender is None or sender in (message["sender_id"], message["sender_attendee_id"]))
            and message["timestamp"] in window
        )

    def filter_emails(
        self, filters: Mapping[str, str], before: SortKey | None = None
    ) -> Iterator[JSON]:
        """The emails ``filters`` select, newest first, strictly before ``before`` if given."""
        accounts = comma_list(filters.get("account_id"))
        folder_ids = self._folder_ids(filters.get("folder"))
        sender, to = _address_list(filters.get("from")), _address_list(filters.get("to"))
        anyone, thread = _address_list(filters.get("any_email")), filters.get("thread_id")
        window = _Window(filters)
        everyone = ("from_attendee", "to_attendees", "cc_attendees", "bcc_attendees")
        lanes = [
            _newest_first(emails, before)
            for account_id, emails in self.account_emails.items()
            if accounts is None or account_id in accounts
        ]
        ordered = (
            lanes[0] if len(lanes) == 1 else heapq.merge(*lanes, key=_email_order, reverse=True)
        )
        return (
            email
            for email in ordered
            if (folder_ids is None or folder_ids & set(email["folderIds"]))
            and (thread is None or email["thread_id"] == thread)
            and (sender is None or sender & _addresses(email, "from_attendee"))
            and (to is None or to & _addresses(email, *everyone[1:]))
            and (anyone is None or anyone & _addresses(email, *everyone))
            and email["date"] in window
        )

    def _folder_ids(self, provider_id: str | None) -> set[str] | None:
        if provider_id is None:
            return None
        return {f["id"] for f in self.folders if provider_id in (f["provider_id"], f["id"])}

    def folders_of(self, account_id: str | None) -> list[JSON]:
        return [f for f in self.folders if account_id in (None, f["account_id"])]

    def folder(self, account_id: str, role: str) -> JSON:
        return next(f for f in self.folders_of(account_id) if f["role"] == role)

    # -- writes ---------------------------------------------------------------------------

    def set_chat_read(self, chat: JSON, read: bool) -> None:
        chat["unread_count"] = 0 if read else max(chat["unread_count"], 1)

    def add_chat_message(self, chat: JSON, sender: JSON, text: str) -> JSON:
        message = message_json(
            message_id=new_id(self.rng),
            chat=chat,
            sender=sender,
            text=text,
            timestamp=self.now(),
            provider_id=new_id(self.rng).upper(),
        )
        self.messages[message["id"]] = message
        self.chat_messages[chat["id"]].append(message)
        chat["timestamp"] = message["timestamp"]
        chat["unread_count"] = 0 if sender["is_self"] else chat["unread_count"] + 1
        return message

    def attendee(self, account: JSON, provider_id: str, name: str | None = None) -> JSON:
        """The account's attendee for ``provider_id`` (a bare WhatsApp number becomes a JID)."""
        if account["type"] == "WHATSAPP" and "@" not in provider_id:
            provider_id = phone_to_whatsapp_jid(provider_id)
        key = (account["id"], provider_id)
        if key not in self.attendee_by_provider:
            attendee = attendee_json(
                attendee_id=new_id(self.rng),
                account=account,
                provider_id=provider_id,
                name=name or provider_id,
                is_self=False,
            )
            self.attendees[attendee["id"]] = self.attendee_by_provider[key] = attendee
        return self.attendee_by_provider[key]

    def start_chat(self, account: JSON, chat_id: str, other: JSON) -> JSON:
        chat = chat_json(
            chat_id=chat_id,
            account=account,
            provider_id=other["provider_id"],
            name=other["name"],
            group=False,
            timestamp=self.now(),
            attendee_provider_id=other["provider_id"],
        )
        self.chats[chat_id] = chat
        self.chat_attendee_ids[chat_id] = [self.self_attendee(account["id"])["id"], other["id"]]
        return chat

    def join_chat(self, chat: JSON, attendee: JSON) -> None:
        if attendee["id"] not in self.chat_attendee_ids[chat["id"]]:
            self.chat_attendee_ids[chat["id"]].append(attendee["id"])

    def thread(self, account_id: str, thread_id: str) -> list[JSON]:
        """The thread's emails, oldest first."""
        return [e for e in self.account_emails.get(account_id, ()) if e["thread_id"] == thread_id]

    def add_email(
        self,
        account: JSON,
        *,
        sender: JSON,
        to: list[JSON],
        cc: list[JSON],
        subject: str,
        body: str,
        thread_id: str | None = None,
        parent: JSON | None = None,
        html: str | None = None,
    ) -> JSON:
        """Store an email; it is ``sent`` when the account wrote it, else ``inbox`` and unread.
        ``html`` is the body as sent through the API; ``body`` is its text."""
        outbound = sender["identifier"].lower() == self.own_address(account["id"]).lower()
        date = self.now()
        email = email_json(
            email_id=new_id(self.rng),
            account=account,
            folder=self.folder(account["id"], "sent" if outbound else "inbox"),
            date=date,
            read_date=date if outbound else None,
            thread_id=thread_id or (parent["thread_id"] if parent else self.new_thread_id()),
            subject=subject,
            sender=sender,
            to=to,
            cc=cc,
            body_plain=body,
            body_html=html,
            in_reply_to=parent and {"message_id": parent["message_id"], "id": parent["id"]},
        )
        self.emails[email["id"]] = email
        bisect.insort(self.account_emails[email["account_id"]], email, key=_email_order)
        return email

    def new_thread_id(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    def reply_subject(self, parent: JSON) -> str:
        subject = str(parent.get("subject") or "")
        return subject if subject.lower().startswith("re:") else f"Re: {subject}"

    def own_attendee(self, account_id: str) -> JSON:
        return email_attendee(self.own_address(account_id), None)


def _copy(data: JSON) -> JSON:
    # Sources are the only nested part the sandbox changes (account status).
    return {**data, "sources": [dict(s) for s in data["sources"]]}


def _get(items: Mapping[str, JSON], key: str, what: str) -> JSON:
    try:
        return items[key]
    except KeyError:
        raise not_found(what) from None
