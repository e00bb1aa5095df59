"""Registered webhooks, UniPile's callback payloads, and their delivery with retries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from unipile.sandbox._problems import missing
from unipile.sandbox._shapes import JSON

SOURCES = ("messaging", "email", "email_tracking", "account_status", "users")
DEFAULT_EVENTS: dict[str, tuple[str, ...]] = {
    "messaging": ("message_received",),
    "email": ("mail_received",),
}
# Event names the SDK accepts in list responses; others are stored but not listed.
SDK_EVENTS = frozenset(
    {
        "message_received",
        "message_read",
        "message_reaction",
        "mail_sent",
        "mail_received",
        "mail_opened",
        "mail_link_clicked",
    }
)


@dataclass
class WebhookRecord:
    id: str
    request_url: str
    source: str
    name: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    events: tuple[str, ...] | None = None
    """``None`` = the source's default events (every status for account_status)."""
    account_ids: tuple[str, ...] | None = None
    """``None`` = every current and future account."""

    @classmethod
    def from_request(cls, webhook_id: str, body: Mapping[str, Any]) -> WebhookRecord:
        if not isinstance(body.get("request_url"), str) or body.get("source") not in SOURCES:
            raise missing(f"request_url and source (one of {', '.join(SOURCES)}) are required")
        events, account_ids = body.get("events"), body.get("account_ids")
        return cls(
            id=webhook_id,
            request_url=body["request_url"],
            source=body["source"],
            name=body.get("name"),
            headers=[(str(h["key"]), str(h["value"])) for h in body.get("headers") or ()],
            events=tuple(events) if events is not None else None,
            account_ids=tuple(account_ids) if account_ids is not None else None,
        )

    def wants(self, source: str, event: str, account_id: str) -> bool:
        events = self.events if self.events is not None else DEFAULT_EVENTS.get(self.source)
        return (
            self.source == source
            and (events is None or event in events)
            and (self.account_ids is None or account_id in self.account_ids)
        )

    def as_json(self, accounts: Mapping[str, JSON]) -> JSON:
        data: JSON = {
            "object": "Webhook",
            "id": self.id,
            "name": self.name,
            "request_url": self.request_url,
            "enabled": True,
            "type": "AUTO",
            "format": "json",
            "headers": [{"key": key, "value": value} for key, value in self.headers],
            "account_ids": [
                _account_ref(accounts[a]) for a in self.account_ids or () if a in accounts
            ],
            "data": [],
            # Not in UniPile's list schema (extras are tolerated); it lets clients see the source.
            "source": self.source,
        }
        events = self.events or DEFAULT_EVENTS.get(self.source, ())
        listed = [event for event in events if event in SDK_EVENTS]
        if listed:
            data["events"] = listed
        return data


def _account_ref(account: JSON) -> JSON:
    # Webhook account filters name Gmail "GOOGLE", not the account type "GOOGLE_OAUTH".
    kind = "GOOGLE" if account["type"] == "GOOGLE_OAUTH" else account["type"]
    return {"id": account["id"], "name": account["name"], "type": kind}


def _sender(attendee: JSON) -> JSON:
    return {
        "attendee_id": attendee["id"],
        "attendee_name": attendee["name"],
        "attendee_provider_id": attendee["provider_id"],
    }


def message_payload(
    account: JSON, chat: JSON, message: JSON, attendees: Iterable[JSON], sender: JSON, own_id: str
) -> JSON:
    """``message_received`` as UniPile posts it (webhook_name is added per webhook)."""
    return {
        "event": "message_received",
        "account_id": account["id"],
        "account_type": account["type"],
        # Guess: the sources do not pin down account_info's values.
        "account_info": {"type": account["type"], "feature": account["type"], "user_id": own_id},
        "chat_id": chat["id"],
        "message_id": message["id"],
        "timestamp": message["timestamp"],
        "message": message["text"],
        "sender": _sender(sender),
        "attendees": [_sender(a) for a in attendees],
        "attachments": [],
        "provider_chat_id": chat["provider_id"],
        "provider_message_id": message["provider_id"],
        "is_group": chat["type"] != 0,
        "is_event": 0,
        "subject": None,
    }


def email_payload(email: JSON, event: str) -> JSON:
    """``mail_received``: the flat email object, plus ``event``, with ``email_id`` for ``id``."""
    flat = {k: v for k, v in email.items() if k not in ("object", "id", "kind", "folderIds")}
    return {**flat, "event": event, "email_id": email["id"], "is_complete": True}


def account_status_payload(account: JSON, status: str) -> JSON:
    return {
        "AccountStatus": {
            "account_id": account["id"],
            "account_type": account["type"],
            "message": status,
        }
    }


class Deliverer:
    """Posts payloads in background tasks, retrying failures after each of ``delays``."""

    def __init__(self, http: httpx.AsyncClient, delays: tuple[float, ...]) -> None:
        self._http, self._delays = http, delays
        self._tasks: set[asyncio.Task[None]] = set()

    def deliver(self, webhook: WebhookRecord, payload: JSON) -> None:
        body = {**payload, "webhook_name": webhook.name} if "event" in payload else payload
        # UniPile sends no Content-Type on API-created webhooks: only the registered headers.
        self.post(webhook.request_url, dict(webhook.headers), body)

    def post(self, url: str, headers: Mapping[str, str], payload: JSON) -> None:
        """POST ``payload`` as JSON to ``url`` with ``headers`` in the background, retried."""
        task = asyncio.create_task(self._deliver(url, headers, json.dumps(payload).encode()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, headers: Mapping[str, str], body: bytes) -> None:
        for delay in (0.0, *self._delays):
            await asyncio.sleep(delay)
            if await self._attempt(url, headers, body):
                return

    async def _attempt(self, url: str, headers: Mapping[str, str], body: bytes) -> bool:
        try:
            response = await self._http.post(url, content=body, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL):
            # An unusable URL fails every attempt, like an unreachable one.
            return False
        return response.is_success

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
