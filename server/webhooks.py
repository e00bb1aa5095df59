"""UniPile's webhooks: registering them, and receiving them at `POST /webhooks/unipile`.

The endpoint only records: it authenticates the call, records the receipt (one INSERT) and wakes
the processor, so UniPile gets its 200 in milliseconds whatever processing costs. Events of a kind
no handler is registered for are acknowledged without being recorded: nothing would ever process
them, and UniPile would otherwise retry. So are events naming an object by something that is not a
UniPile id (`../webhooks` as a chat id): processing would only fail, and retrying cannot help.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from db.text import storable
from realtime.receipts import (
    ACCOUNT_STATUS,
    ReceiptProcessor,
    ReceiptRecorder,
    identify,
    parse_webhook,
)
from unipile import UnipileClient, Webhook, is_valid_id

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/unipile"
AUTH_HEADER = "Unipile-Auth"
NAME_PREFIX = "switchboard-"
# The events Switchboard asks for, by source; None: the source's every event.
WEBHOOK_EVENTS: Mapping[str, Sequence[str] | None] = {
    "messaging": ("message_received", "message_read", "message_reaction"),
    "email": ("mail_received", "mail_sent"),
    "account_status": None,
}
# The payload fields (dotted: nested) by which each handled event names UniPile objects. An email's
# `message_id` is its RFC 5322 Message-ID header, never sent back to UniPile: it is not one.
_CHAT_EVENT_IDS = ("account_id", "chat_id", "message_id")
_EMAIL_EVENT_IDS = ("account_id", "email_id", "thread_id")
ID_FIELDS: Mapping[str, Sequence[str]] = {
    "message_received": _CHAT_EVENT_IDS,
    "message_read": _CHAT_EVENT_IDS,
    "message_reaction": _CHAT_EVENT_IDS,
    "mail_received": _EMAIL_EVENT_IDS,
    "mail_sent": _EMAIL_EVENT_IDS,
    ACCOUNT_STATUS: ("AccountStatus.account_id",),
}
LOGGED_VALUE_LENGTH = 80


class WebhookIntake:
    def __init__(self, secret: str, processor: ReceiptProcessor) -> None:
        self._secret = secret.encode()
        self._processor = processor
        self._recorder = ReceiptRecorder()

    async def receive(self, request: Request) -> JSONResponse:
        with self._processor.acknowledging():
            return await self._acknowledge(request)

    async def _acknowledge(self, request: Request) -> JSONResponse:
        if not self._authentic(request):
            return JSONResponse({"error": f"missing or wrong {AUTH_HEADER} header"}, 401)
        try:
            sent = parse_webhook(await request.body())
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, 400)
        if not isinstance(sent, dict):
            return JSONResponse({"error": "the body is not a JSON object"}, 400)
        # Text PostgreSQL refuses (U+0000, lone surrogates) is replaced; ids are checked as sent.
        payload = storable(sent)
        identity = identify(payload)
        if identity is None or not self._processor.handles(identity.kind):
            log.debug("acknowledged an unhandled webhook: %s", identity)
            return JSONResponse({"status": "ignored"})
        invalid = _invalid_id_field(identity.kind, sent)
        if invalid is not None:
            field, value = invalid
            # %r escapes control characters: the value cannot forge log lines.
            log.warning(
                "rejected a %s webhook: its %s %.*r is not a UniPile id",
                identity.kind,
                field,
                LOGGED_VALUE_LENGTH,
                value,
            )
            return JSONResponse({"status": "rejected"})
        receipt_id = await self._recorder.record(identity, payload)
        if receipt_id is None:
            return JSONResponse({"status": "duplicate"})
        self._processor.recorded(receipt_id)
        return JSONResponse({"status": "recorded"})

    def _authentic(self, request: Request) -> bool:
        given = request.headers.get(AUTH_HEADER)
        # Starlette decodes header values as latin-1: encoding them back gives the bytes sent.
        return given is not None and hmac.compare_digest(given.encode("latin-1"), self._secret)


def _invalid_id_field(kind: str, payload: Mapping[str, Any]) -> tuple[str, object] | None:
    """The first field of `ID_FIELDS` present in the payload but not a UniPile id, and its value."""
    for field in ID_FIELDS.get(kind, ()):
        value = _field(payload, field)
        if value is not None and not (isinstance(value, str) and is_valid_id(value)):
            return field, value
    return None


def _field(payload: Mapping[str, Any], dotted: str) -> object:
    value: object = payload
    for name in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(name)
    return value


def webhook_routes(*, secret: str, processor: ReceiptProcessor) -> list[Route]:
    """`POST /webhooks/unipile`, authenticated by `secret`, feeding `processor`."""
    intake = WebhookIntake(secret, processor)
    return [Route(WEBHOOK_PATH, intake.receive, methods=["POST"])]


async def register_webhooks(client: UnipileClient, *, url: str, secret: str) -> list[str]:
    """Make UniPile call `{url}/webhooks/unipile` for each source; the ids of those webhooks.

    A webhook already pointing there for a source is kept, so running this again creates nothing;
    one that sends another secret (the secret was changed since) is replaced.
    """
    request_url = url.rstrip("/") + WEBHOOK_PATH
    headers = [(AUTH_HEADER, secret), ("Content-Type", "application/json")]
    existing = [hook for hook in await _all_webhooks(client) if hook.request_url == request_url]
    ids = []
    for source, events in WEBHOOK_EVENTS.items():
        found = next((hook for hook in existing if source in (hook.source, _source(hook))), None)
        if found is not None and (AUTH_HEADER, secret) in found.headers:
            ids.append(found.id)
            continue
        if found is not None:
            await client.delete_webhook(found.id)
        created = await client.create_webhook(
            request_url=request_url,
            source=source,
            name=NAME_PREFIX + source,
            headers=headers,
            events=events,
        )
        ids.append(created)
    return ids


def _source(hook: Webhook) -> str | None:
    # UniPile's list schema has no source; the name this module gives its webhooks tells it.
    if hook.name is None or not hook.name.startswith(NAME_PREFIX):
        return None
    return hook.name[len(NAME_PREFIX) :]


async def _all_webhooks(client: UnipileClient) -> list[Webhook]:
    hooks: list[Webhook] = []
    cursor: str | None = None
    while True:
        page = await client.list_webhooks(cursor=cursor)
        hooks.extend(page.items)
        cursor = page.cursor
        if cursor is None:
            return hooks
