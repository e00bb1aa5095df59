"""The ``/api/v1`` routes: UniPile's paths, shapes and status codes."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from unipile.sandbox._http import form, json_body, listing, ok, sandbox
from unipile.sandbox._paging import by_date, by_id, list_query, page, page_in_order
from unipile.sandbox._problems import ApiError, invalid, missing, not_found
from unipile.sandbox._shapes import JSON, email_attendee, email_meta, new_id
from unipile.sandbox._webhooks import WebhookRecord

CHAT_FILTERS = ("account_id", "account_type", "unread", "before", "after")
EMAIL_FILTERS = (
    "account_id",
    "folder",
    "from",
    "to",
    "any_email",
    "before",
    "after",
    "meta_only",
    "thread_id",
)


def _path(request: Request, name: str) -> str:
    return str(request.path_params[name])


async def list_accounts(request: Request) -> JSONResponse:
    box, query = sandbox(request), list_query(request.query_params, ())
    box.touch(None)
    items, cursor = page(box.store.accounts.values(), query, by_id)
    return listing("Account", items, cursor)


async def get_account(request: Request) -> JSONResponse:
    box, account_id = sandbox(request), _path(request, "account_id")
    box.touch(account_id)
    return ok(box.store.account(account_id))


async def delete_account(request: Request) -> JSONResponse:
    sandbox(request).delete_account(_path(request, "account_id"))
    return ok({"object": "AccountDeleted"})


async def list_chats(request: Request) -> JSONResponse:
    box, query = sandbox(request), list_query(request.query_params, CHAT_FILTERS)
    box.require_accounts_connected(query.filters.get("account_id"))
    items, cursor = page(box.store.filter_chats(query.filters), query, by_date("timestamp"))
    return listing("Chat", items, cursor)


def _chat(request: Request) -> JSON:
    box = sandbox(request)
    chat = box.store.chat(_path(request, "chat_id"))
    box.require_connected(chat["account_id"])
    return chat


async def get_chat(request: Request) -> JSONResponse:
    chat = _chat(request)
    last = sandbox(request).store.last_message(chat["id"])
    return ok({**chat, "lastMessage": last})


async def patch_chat(request: Request) -> JSONResponse:
    chat, body = _chat(request), await json_body(request)
    if body.get("action") != "setReadStatus" or not isinstance(body.get("value"), bool):
        raise invalid("expected {action: 'setReadStatus', value: boolean}")
    sandbox(request).store.set_chat_read(chat, body["value"])
    return ok({"object": "ChatPatched"})


async def list_chat_messages(request: Request) -> JSONResponse:
    chat = _chat(request)
    query = list_query(request.query_params, ("sender_id", "before", "after"))
    messages = sandbox(request).store.filter_messages(chat["id"], query.filters)
    items, cursor = page(messages, query, by_date("timestamp"))
    return listing("Message", items, cursor)


async def send_chat_message(request: Request) -> JSONResponse:
    chat, fields = _chat(request), await form(request)
    if not fields.get("text"):
        raise missing("text is required")
    box = sandbox(request)
    me = box.store.self_attendee(chat["account_id"])
    message = box.add_chat_message(chat, me, fields["text"])
    return ok({"object": "MessageSent", "message_id": message["id"]}, 201)


async def list_chat_attendees(request: Request) -> JSONResponse:
    chat = _chat(request)
    return listing("ChatAttendee", sandbox(request).store.chat_attendees(chat["id"]), None)


async def list_account_attendees(request: Request) -> JSONResponse:
    box, query = sandbox(request), list_query(request.query_params, ("account_id",))
    account_id = query.filters.get("account_id")
    box.touch(account_id)
    if account_id is not None:
        box.require_connected(box.store.account(account_id)["id"])
    attendees = (a for a in box.store.attendees.values() if account_id in (None, a["account_id"]))
    items, cursor = page(attendees, query, by_id)
    return listing("ChatAttendee", items, cursor)


async def get_message(request: Request) -> JSONResponse:
    box = sandbox(request)
    message = box.store.message(_path(request, "message_id"))
    box.require_connected(message["account_id"])
    return ok(message)


async def list_emails(request: Request) -> JSONResponse:
    box, query = sandbox(request), list_query(request.query_params, EMAIL_FILTERS)
    box.require_accounts_connected(query.filters.get("account_id"))
    meta_only = query.filters.get("meta_only") == "true"
    # Already newest first and after the cursor: the store keeps each account's emails sorted.
    emails = box.store.filter_emails(query.filters, before=query.after_key)
    items, cursor = page_in_order(emails, query, by_date("date"))
    return listing("Email", [email_meta(e) for e in items] if meta_only else items, cursor)


def _email(request: Request) -> JSON:
    box = sandbox(request)
    email = box.store.email(_path(request, "email_id"), request.query_params.get("account_id"))
    box.require_connected(email["account_id"])
    return email


async def get_email(request: Request) -> JSONResponse:
    return ok(_email(request))


async def update_email(request: Request) -> JSONResponse:
    email = _email(request)
    # The Node SDK sends "[object Object]" here (reference quirk 1): tolerate any body.
    try:
        body: Any = json.loads(await request.body())
    except ValueError:
        body = {}
    if isinstance(body, dict) and isinstance(body.get("unread"), bool):
        email["read_date"] = None if body["unread"] else sandbox(request).store.now()
    return ok({"object": "EmailUpdated"})


def _recipients(fields: dict[str, str], name: str) -> list[JSON]:
    try:
        parsed = json.loads(fields.get(name) or "[]")
        return [email_attendee(r["identifier"], r.get("display_name")) for r in parsed]
    except (ValueError, TypeError, KeyError):
        raise invalid(f"{name} must be a JSON list of {{identifier, display_name?}}") from None


async def send_email(request: Request) -> JSONResponse:
    fields, box = await form(request), sandbox(request)
    if not (fields.get("account_id") and fields.get("body") and fields.get("to")):
        raise missing("account_id, body and to are required")
    box.touch(fields["account_id"])
    account = box.store.account(fields["account_id"])
    box.require_connected(account["id"])
    parent = _parent(request, fields)
    email = box.add_email(
        account,
        sender=box.store.own_attendee(account["id"]),
        to=_recipients(fields, "to"),
        cc=_recipients(fields, "cc"),
        subject=fields.get("subject") or (box.store.reply_subject(parent) if parent else ""),
        body=_text_of(fields["body"]),
        html=fields["body"],
        parent=parent,
    )
    response = {"tracking_id": new_id(box.store.rng), "id": email["id"]}
    return ok({"object": "EmailSent", **response, "provider_id": email["provider_id"]}, 201)


def _text_of(html: str) -> str:
    """The plain text of an HTML body, as UniPile gives it in `body_plain`."""
    return re.sub(r"<[^>]+>", "", html).strip()


def _parent(request: Request, fields: dict[str, str]) -> JSON | None:
    reply_to = fields.get("reply_to")
    if not reply_to:
        return None
    try:
        return sandbox(request).store.email(reply_to, fields["account_id"])
    except ApiError:
        raise ApiError(
            422, "parent_mail_not_found", "Unprocessable", "reply_to not found"
        ) from None


async def list_folders(request: Request) -> JSONResponse:
    box, account_id = sandbox(request), request.query_params.get("account_id")
    box.touch(account_id)
    if account_id is not None:
        box.require_connected(box.store.account(account_id)["id"])
    return ok({"object": "FolderList", "items": box.store.folders_of(account_id)})


async def list_webhooks(request: Request) -> JSONResponse:
    box, query = sandbox(request), list_query(request.query_params, ())
    records = {w.id: w.as_json(box.store.accounts) for w in box.webhooks.values()}
    items, cursor = page(records.values(), query, by_id)
    return listing("Webhook", items, cursor)


async def create_webhook(request: Request) -> JSONResponse:
    box = sandbox(request)
    record = WebhookRecord.from_request(new_id(box.store.rng), await json_body(request))
    box.webhooks[record.id] = record
    return ok({"object": "WebhookCreated", "webhook_id": record.id}, 201)


async def delete_webhook(request: Request) -> JSONResponse:
    if sandbox(request).webhooks.pop(_path(request, "webhook_id"), None) is None:
        raise not_found("Webhook")
    return ok({"object": "WebhookDeleted"})


ROUTES = [
    Route("/api/v1/accounts", list_accounts),
    Route("/api/v1/accounts/{account_id}", get_account),
    Route("/api/v1/accounts/{account_id}", delete_account, methods=["DELETE"]),
    Route("/api/v1/chats", list_chats),
    Route("/api/v1/chats/{chat_id}", get_chat),
    Route("/api/v1/chats/{chat_id}", patch_chat, methods=["PATCH"]),
    Route("/api/v1/chats/{chat_id}/messages", list_chat_messages),
    Route("/api/v1/chats/{chat_id}/messages", send_chat_message, methods=["POST"]),
    Route("/api/v1/chats/{chat_id}/attendees", list_chat_attendees),
    Route("/api/v1/chat_attendees", list_account_attendees),
    Route("/api/v1/messages/{message_id}", get_message),
    Route("/api/v1/emails", list_emails),
    Route("/api/v1/emails", send_email, methods=["POST"]),
    Route("/api/v1/emails/{email_id}", get_email),
    Route("/api/v1/emails/{email_id}", update_email, methods=["PUT"]),
    Route("/api/v1/folders", list_folders),
    Route("/api/v1/webhooks", list_webhooks),
    Route("/api/v1/webhooks", create_webhook, methods=["POST"]),
    Route("/api/v1/webhooks/{webhook_id}", delete_webhook, methods=["DELETE"]),
]
