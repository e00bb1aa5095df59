"""The sandbox's state as one object: data, faults, stats, webhooks and live-mode actions."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from unipile.sandbox._faults import ALL_ACCOUNTS, Faults, RequestStats
from unipile.sandbox._links import PROVIDER_TYPES, HostedLink, HostedLinks, parse_link
from unipile.sandbox._problems import ApiError, disconnected, invalid, missing, not_found
from unipile.sandbox._shapes import JSON, email_attendee, new_id
from unipile.sandbox._store import DISCONNECTED_STATUSES, SandboxStore, comma_list
from unipile.sandbox._webhooks import (
    Deliverer,
    WebhookRecord,
    account_status_payload,
    email_payload,
    message_payload,
)
from unipile.sandbox.demo import (
    TEXTS,
    Demo,
    build_bulk_mailbox,
    build_connected_account,
    build_demo,
    build_rival,
    combine_demos,
)
from unipile.sandbox.settings import SandboxSettings

ACCOUNT_STATUSES = frozenset(
    {
        "OK",
        "ERROR",
        "STOPPED",
        "CREDENTIALS",
        "PERMISSIONS",
        "CONNECTING",
        "RECONNECTED",
        "SYNC_SUCCESS",
        "CREATION_SUCCESS",
    }
)
# Webhook-only statuses that leave the account's source working.
_RECONNECTING_STATUSES = frozenset({"RECONNECTED", "SYNC_SUCCESS", "CREATION_SUCCESS"})
MAX_CONNECTED_ACCOUNTS = 100
"""Accounts connected through hosted auth held at once (deleting one frees its place)."""
# Guess: the reference does not say which headers the notify_url callback carries.
_CALLBACK_HEADERS = {"Content-Type": "application/json"}


def sandbox_data(settings: SandboxSettings) -> Demo:
    """The demo data, with the rival tenant and the bulk mailbox when the settings ask."""
    extras = []
    if settings.rival_tenant:
        extras.append(build_rival(settings.seed))
    if settings.bulk_mailbox_threads > 0:
        extras.append(build_bulk_mailbox(settings.seed, settings.bulk_mailbox_threads))
    demo = build_demo(settings.seed)
    return combine_demos(demo, *extras) if extras else demo


class Sandbox:
    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        # Separate generators, so injecting faults does not change the ids live mode creates.
        self.fault_rng = random.Random(f"faults-{settings.seed}")
        self.store = SandboxStore(sandbox_data(settings), random.Random(f"live-{settings.seed}"))
        self.faults = Faults.from_settings(settings)
        self.stats = RequestStats()
        self.webhooks: dict[str, WebhookRecord] = {}
        self.deliverer: Deliverer | None = None
        """Set by the app's lifespan, which owns its HTTP client."""
        self.links = HostedLinks()
        # Its own generator: handing out links leaves the ids live mode creates unchanged.
        self.hosted_rng = random.Random(f"hosted-{settings.seed}")
        self.hosted_accounts: set[str] = set()

    def touch(self, account_id: str | None) -> None:
        """Count the current request against an account (``None``: against every account)."""
        self.stats.touched(ALL_ACCOUNTS if account_id is None else account_id)

    def require_connected(self, account_id: str) -> None:
        self.touch(account_id)
        if (
            account_id in self.faults.disconnected_accounts
            or self.store.status(account_id) in DISCONNECTED_STATUSES
        ):
            raise disconnected(account_id)

    def require_accounts_connected(self, filter_value: str | None) -> None:
        """Check each known account of an ``account_id`` filter (unknown ids just match nothing)."""
        account_ids = comma_list(filter_value)
        if account_ids is None:
            self.touch(None)
        for account_id in account_ids or ():
            self.touch(account_id)
            if account_id in self.store.accounts:
                self.require_connected(account_id)

    def notify(self, source: str, event: str, account_id: str, payload: JSON) -> None:
        if self.deliverer is None:
            return
        for webhook in self.webhooks.values():
            if webhook.wants(source, event, account_id):
                self.deliverer.deliver(webhook, payload)

    # -- writes through the API, shared with live mode ------------------------------------
    # Guess: UniPile documents message_received for messages the account sends from another
    # device; the sandbox also fires it (and mail_sent) for sends made through the API.

    def add_chat_message(self, chat: JSON, sender: JSON, text: str) -> JSON:
        store = self.store
        message = store.add_chat_message(chat, sender, text)
        account = store.account(chat["account_id"])
        own = store.self_attendee(account["id"])["provider_id"]
        attendees = store.chat_attendees(chat["id"])
        payload = message_payload(account, chat, message, attendees, sender, own)
        self.notify("messaging", "message_received", account["id"], payload)
        return message

    def add_email(self, account: JSON, **email_fields: Any) -> JSON:
        """Store an email (see ``SandboxStore.add_email``) and fire mail_received/mail_sent."""
        email = self.store.add_email(account, **email_fields)
        event = "mail_sent" if email["role"] == "sent" else "mail_received"
        self.notify("email", event, account["id"], email_payload(email, event))
        return email

    # -- live mode ------------------------------------------------------------------------

    def post_live_message(self, body: Mapping[str, Any]) -> JSON:
        """``POST /_sandbox/messages``: a message into a chat or an email into a thread."""
        account = self.store.account(_required(body, "account_id"))
        text = _required(body, "text")
        if account["type"] in ("GOOGLE_OAUTH", "OUTLOOK", "MAIL"):
            return self._live_email(account, _required(body, "thread_id"), body, text)
        return self._live_chat_message(account, _required(body, "chat_id"), body, text)

    def _live_chat_message(
        self, account: JSON, chat_id: str, body: Mapping[str, Any], text: str
    ) -> JSON:
        store, sender_id = self.store, body.get("sender")
        if chat_id not in store.chats:
            if not sender_id:
                raise missing("sender is required to start a new chat")
            other = store.attendee(account, sender_id, body.get("sender_name"))
            store.start_chat(account, chat_id, other)
        chat = store.chat(chat_id)
        if chat["account_id"] != account["id"]:
            raise not_found("Chat")
        if sender_id:
            sender = store.attendee(account, sender_id, body.get("sender_name"))
            store.join_chat(chat, sender)
        else:
            others = [a for a in store.chat_attendees(chat_id) if not a["is_self"]]
            sender = store.rng.choice(others)
        return self.add_chat_message(chat, sender, text)

    def _live_email(
        self, account: JSON, thread_id: str, body: Mapping[str, Any], text: str
    ) -> JSON:
        store = self.store
        thread = store.thread(account["id"], thread_id)
        me = store.own_attendee(account["id"])
        if thread:
            parent = thread[-1]
            them = _other_party(thread, me["identifier"])
            subject = store.reply_subject(parent)
        elif body.get("sender"):
            parent, them = None, email_attendee(body["sender"], body.get("sender_name"))
            subject = str(body.get("subject") or "(no subject)")
        else:
            raise missing("sender is required to start a new email thread")
        sender = them
        if body.get("sender"):
            sender = email_attendee(body["sender"], body.get("sender_name"))
        to = [them] if sender["identifier"].lower() == me["identifier"].lower() else [me]
        return self.add_email(
            account,
            sender=sender,
            to=to,
            cc=[],
            subject=subject,
            body=text,
            thread_id=thread_id,
            parent=parent,
        )

    def set_account_status(self, account_id: str, status: str) -> JSON:
        if status not in ACCOUNT_STATUSES:
            raise invalid(f"status must be one of {sorted(ACCOUNT_STATUSES)}")
        account = self.store.account(account_id)
        account["sources"][0]["status"] = "OK" if status in _RECONNECTING_STATUSES else status
        payload = account_status_payload(account, status)
        self.notify("account_status", status.lower(), account_id, payload)
        return account

    def delete_account(self, account_id: str) -> None:
        """``DELETE /accounts/{id}``: the account and its data are gone; ``DELETED`` is sent."""
        self.touch(account_id)
        account = self.store.remove_account(account_id)
        self.hosted_accounts.discard(account_id)
        self.notify(
            "account_status", "deleted", account_id, account_status_payload(account, "DELETED")
        )

    # -- hosted auth ----------------------------------------------------------------------

    def create_link(self, body: Mapping[str, Any]) -> HostedLink:
        now = datetime.now(UTC)
        link = parse_link(
            new_id(self.hosted_rng), body, now=now, known=self.store.accounts.__contains__
        )
        self.links.add(link, now)
        return link

    def use_link(self, link: HostedLink, provider: str | None) -> tuple[str, str]:
        """Connect (or reconnect) the account ``link`` is for, through ``provider`` (needed only
        when the link allows several): ``(account id, status)`` as the callback gives them. The
        link is used up; the callback and the ``account_status`` webhook are on their way."""
        if link.used or link.expired(datetime.now(UTC)):
            raise expired_link(link)
        if link.kind == "reconnect":
            assert link.reconnect_account is not None
            account_id, status = self._reconnect(link.reconnect_account), "RECONNECTED"
        else:
            account_id, status = self._connect(link, _chosen(link, provider)), "CREATION_SUCCESS"
        link.used = True
        if link.notify_url is not None and self.deliverer is not None:
            callback = {"status": status, "account_id": account_id, "name": link.name}
            self.deliverer.post(link.notify_url, _CALLBACK_HEADERS, callback)
        return account_id, status

    def _connect(self, link: HostedLink, provider: str) -> str:
        if len(self.hosted_accounts) >= MAX_CONNECTED_ACCOUNTS:
            raise ApiError(
                422,
                "limit_exceeded",
                "Unprocessable",
                f"the sandbox holds {MAX_CONNECTED_ACCOUNTS} accounts connected by hosted auth",
            )
        account_id = new_id(self.hosted_rng)
        account, data = build_connected_account(
            self.settings.seed, link.id, account_id, PROVIDER_TYPES[provider], self.store.now()
        )
        self.store.add_data(data, [account])
        self.hosted_accounts.add(account_id)
        stored = self.store.account(account_id)
        self.notify(
            "account_status",
            "creation_success",
            account_id,
            account_status_payload(stored, "CREATION_SUCCESS"),
        )
        return account_id

    def _reconnect(self, account_id: str) -> str:
        try:
            self.store.account(account_id)
        except ApiError:
            raise ApiError(
                404, "resource_not_found", "Resource not found.", "The account to reconnect is gone"
            ) from None
        self.faults.disconnected_accounts.discard(account_id)
        self.set_account_status(account_id, "RECONNECTED")
        return account_id

    async def generate(self, interval_s: float) -> None:
        """Keep the demo inbox alive: a random inbound message every ``interval_s``."""
        rng = self.store.rng
        while True:
            await asyncio.sleep(interval_s)
            chats = list(self.store.chats.values())
            chat = rng.choice(chats)
            account_id = chat["account_id"]
            if self.store.status(account_id) not in DISCONNECTED_STATUSES:
                body = {"account_id": account_id, "chat_id": chat["id"], "text": rng.choice(TEXTS)}
                self.post_live_message(body)


def expired_link(link: HostedLink) -> ApiError:
    # Guess: the type is the OAS's (filed there under 401); the status is the sandbox's.
    detail = "This link has already been used" if link.used else "This link has expired"
    return ApiError(410, "expired_link", "Expired link", detail)


def _chosen(link: HostedLink, provider: str | None) -> str:
    if provider is None and len(link.providers) == 1:
        return link.providers[0]
    if provider is None:
        raise missing(f"provider is required: one of {', '.join(link.providers)}")
    if provider not in link.providers:
        raise invalid(f"provider must be one of {', '.join(link.providers)}")
    return provider


def _required(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise missing(f"{key} is required")
    return value


def _other_party(thread: list[JSON], own_address: str) -> JSON:
    for email in thread:
        for attendee in (email["from_attendee"], *email["to_attendees"]):
            if attendee["identifier"].lower() != own_address.lower():
                return dict(attendee)
    return dict(thread[0]["from_attendee"])


__all__ = ["ACCOUNT_STATUSES", "MAX_CONNECTED_ACCOUNTS", "Sandbox", "expired_link", "sandbox_data"]
