"""The async UniPile REST client: one shared httpx.AsyncClient, retries, per-account bounds."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypedDict, TypeVar, Unpack
from urllib.parse import urlencode

import httpx
import orjson

from unipile._counting import current_deadline, record_request
from unipile._errors import (
    NOTHING_SENT,
    RateLimitedError,
    UnipileError,
    UpstreamConnectionError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
    error_from_response,
)
from unipile._paths import path_segment
from unipile._timestamps import format_timestamp
from unipile._types import (
    Account,
    AccountType,
    Chat,
    ChatAttendee,
    ChatHead,
    Email,
    EmailAttendee,
    EmailHead,
    EmailSent,
    Folder,
    HostedAuthKind,
    Message,
    MessageSent,
    Page,
    Webhook,
)

__all__ = [
    "ATTEMPT_EXTENSION",
    "DEFAULT_TIMEOUT",
    "Attempt",
    "ChatFilters",
    "EmailFilters",
    "ListCall",
    "Recipient",
    "UnipileClient",
]

T = TypeVar("T")

DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
# A retry is not worth starting with less time than this left before the operation's deadline.
MIN_ATTEMPT_SECONDS = 0.05

ATTEMPT_EXTENSION = "switchboard.unipile.attempt"
"""The httpx request extension naming each attempt (`Attempt`), for a transport that observes."""


@dataclass(frozen=True, slots=True)
class Attempt:
    account_id: str | None
    """UniPile's id of the account the call is for, when the call names it."""
    retry: int
    """0 for a call's first attempt, then 1, 2... for its retries."""


Recipient = str | EmailAttendee
"""An email recipient: a bare address, or an attendee whose display name is sent along."""


def _query_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def _query(**values: object) -> dict[str, str]:
    """Keyword filters → query params; ``None`` is left out and ``from_`` is sent as ``from``."""
    return {key.rstrip("_"): _query_value(v) for key, v in values.items() if v is not None}


def _recipients(recipients: Sequence[Recipient]) -> str:
    def one(recipient: Recipient) -> dict[str, str]:
        if isinstance(recipient, str):
            return {"identifier": recipient}
        if recipient.display_name is None:
            return {"identifier": recipient.identifier}
        return {"identifier": recipient.identifier, "display_name": recipient.display_name}

    return json.dumps([one(r) for r in recipients])


def _multipart(fields: Mapping[str, str | None]) -> list[tuple[str, tuple[None, str]]]:
    # A `None` file name makes httpx write a plain form field while still using multipart.
    return [(name, (None, value)) for name, value in fields.items() if value is not None]


def _ends_in_time(seconds: float, deadline: float | None) -> bool:
    """Whether something taking `seconds` from now ends before `deadline` (None: always)."""
    return deadline is None or asyncio.get_running_loop().time() + seconds < deadline


def _retry_after(response: httpx.Response) -> float | None:
    # Only the delay-seconds form is read: an HTTP-date Retry-After was never seen upstream.
    try:
        return max(0.0, float(response.headers["retry-after"]))
    except (KeyError, ValueError):
        return None


def _json(response: httpx.Response) -> Any:
    """``response.json()`` decoded by orjson (several times faster on a page of emails)."""
    return orjson.loads(response.content)


class ChatFilters(TypedDict, total=False):
    account_id: str | None
    account_type: AccountType | str | None
    unread: bool | None
    before: datetime | None
    after: datetime | None
    limit: int | None
    cursor: str | None


class EmailFilters(TypedDict, total=False):
    account_id: str | None
    folder: str | None
    from_: str | None
    to: str | None
    any_email: Sequence[str] | None
    before: datetime | None
    after: datetime | None
    meta_only: bool | None
    # Listed by the OpenAPI schema only, not by the SDK.
    thread_id: str | None
    limit: int | None
    cursor: str | None


@dataclass(frozen=True, slots=True)
class ListCall(Generic[T]):
    """One page of a UniPile list, asked for but not yet sent: what a cache keys, shares and
    keeps as UniPile's JSON (`page` parses it)."""

    path: str
    params: Mapping[str, str]
    account_id: str | None
    parse: Callable[[Mapping[str, Any]], T]
    # Names what `parse` makes of the items when that is not the list's usual type: to a cache,
    # the same request parsed two ways is two pages.
    shape: str = ""

    @property
    def key(self) -> str:
        """The request itself, the same for the same page whichever way it was asked for."""
        request = self.path + "?" + urlencode(sorted(self.params.items()))
        return f"{request}#{self.shape}" if self.shape else request

    def page(self, data: Mapping[str, Any]) -> Page[T]:
        return Page(
            items=tuple(map(self.parse, data.get("items") or ())), cursor=data.get("cursor")
        )


class _NotSent(httpx.ConnectTimeout):
    """The cause of a timeout that struck before the request left this process (the deadline
    passed while it waited for its account's slot, or before it started): nothing was sent,
    which `may_have_been_accepted` and the POST retry rule read from a connect timeout."""


def _capped(timeout: httpx.Timeout, seconds: float) -> httpx.Timeout:
    """`timeout` with no phase allowed more than `seconds`."""

    def cap(value: float | None) -> float:
        return seconds if value is None else min(value, seconds)

    return httpx.Timeout(
        connect=cap(timeout.connect),
        read=cap(timeout.read),
        write=cap(timeout.write),
        pool=cap(timeout.pool),
    )


def _decode_error(response: httpx.Response) -> UnipileError:
    try:
        body: object = _json(response)
    except ValueError:
        body = None
    return error_from_response(response.status_code, body, retry_after=_retry_after(response))


def _decode_success(response: httpx.Response) -> Any:
    try:
        return _json(response)
    except ValueError as exc:
        raise UpstreamUnavailableError(
            f"UniPile answered {response.status_code} without a JSON body",
            status=response.status_code,
        ) from exc


class UnipileClient:
    """Async client for UniPile's REST API v1 at ``{dsn}/api/v1``.

    Idempotent calls (GET, PUT, DELETE and the read-state PATCH) are retried on 429, 5xx,
    timeouts and connection errors, with exponential backoff and full jitter; a Retry-After
    header is honoured when it fits within ``backoff_max``, otherwise the error is raised at once
    so a caller serving a user is not held up. POSTs are retried only when the connection could
    not be opened, since otherwise UniPile may already have sent the message.

    Inside ``unipile.upstream_deadline`` (set once per GraphQL operation) every call ends by the
    deadline: an attempt's timeouts are capped by the time left and the attempt is cut off at the
    deadline (an ``UpstreamTimeoutError``), freeing its account's slot; no retry or backoff sleep
    starts that could not end before it. Inside ``unipile.request_budget`` each attempt counts
    against the budget, and one past it raises the budget's error without being sent.

    Every id in a path goes through ``unipile._paths.path_segment``: an id that cannot name an
    object raises :class:`InvalidIdError` before any request, the others are percent-encoded.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        dsn: str,
        api_key: str,
        *,
        timeout: httpx.Timeout | None = None,
        max_retries: int = 4,
        backoff_base: float = 0.2,
        backoff_max: float = 5.0,
        per_account_concurrency: int = 8,
    ) -> None:
        self._http = http
        # A trailing slash would give `//api/v1`, which UniPile does not normalise.
        self._base_url = dsn.rstrip("/") + "/api/v1"
        self._headers = {"X-API-KEY": api_key, "accept": "application/json"}
        self._timeout = timeout or DEFAULT_TIMEOUT
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._per_account_concurrency = per_account_concurrency
        self._semaphores: dict[str, asyncio.Semaphore] = {}

    # -- accounts -------------------------------------------------------------------------

    async def list_accounts(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[Account]:
        return await self._page("/accounts", Account.from_json, _query(limit=limit, cursor=cursor))

    async def get_account(self, account_id: str) -> Account:
        data = await self._get(f"/accounts/{path_segment(account_id)}", account_id=account_id)
        return Account.from_json(data)

    async def delete_account(self, account_id: str) -> None:
        """Disconnect the account from UniPile (``{object:"AccountDeleted"}``)."""
        await self._call("DELETE", f"/accounts/{path_segment(account_id)}", account_id=account_id)

    async def create_hosted_auth_link(
        self,
        *,
        kind: HostedAuthKind,
        expires_on: datetime,
        api_url: str,
        providers: Sequence[str] | None,
        name: str,
        notify_url: str,
        success_redirect_url: str | None = None,
        failure_redirect_url: str | None = None,
        reconnect_account: str | None = None,
    ) -> str:
        """A hosted-auth page's URL, where a user connects an account (``kind="create"``) or
        reconnects ``reconnect_account``; UniPile then POSTs ``{status, account_id, name}`` to
        ``notify_url``, ``name`` echoed. ``providers=None`` allows every provider (``"*"``).

        ``api_url`` is the DSN the account will be reached at (the reference's ``api_url``).
        """
        body: dict[str, Any] = {
            "type": kind,
            "expiresOn": format_timestamp(expires_on),
            "api_url": api_url,
            "providers": "*" if providers is None else list(providers),
            "name": name,
            "notify_url": notify_url,
        }
        optional = {
            "success_redirect_url": success_redirect_url,
            "failure_redirect_url": failure_redirect_url,
            "reconnect_account": reconnect_account,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        # A retried link request at worst leaves an unused link behind, which expires.
        data = await self._call("POST", "/hosted/accounts/link", json=body)
        return str(data["url"])

    # -- chats and messages ---------------------------------------------------------------

    def chats_call(self, **filters: Unpack[ChatFilters]) -> ListCall[Chat]:
        account_id = filters.get("account_id")
        return ListCall("/chats", _query(**filters), account_id, Chat.from_json)

    def chat_heads_call(self, **filters: Unpack[ChatFilters]) -> ListCall[ChatHead]:
        """`chats_call` with each chat read only as far as `ChatHead` reads it, for a reader that
        shows a few of the chats it lists."""
        account_id = filters.get("account_id")
        return ListCall("/chats", _query(**filters), account_id, ChatHead, shape="heads")

    async def list_chats(self, **filters: Unpack[ChatFilters]) -> Page[Chat]:
        return await self.list_page(self.chats_call(**filters))

    async def get_chat(self, chat_id: str, *, account_id: str | None = None) -> Chat:
        data = await self._get(
            f"/chats/{path_segment(chat_id)}",
            params=_query(account_id=account_id),
            account_id=account_id,
        )
        return Chat.from_json(data)

    async def list_chat_messages(
        self,
        chat_id: str,
        *,
        sender_id: str | None = None,
        before: datetime | None = None,
        after: datetime | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Message]:
        params = _query(sender_id=sender_id, before=before, after=after, limit=limit, cursor=cursor)
        return await self._page(
            f"/chats/{path_segment(chat_id)}/messages", Message.from_json, params
        )

    async def list_chat_attendees(self, chat_id: str) -> Page[ChatAttendee]:
        return await self._page(
            f"/chats/{path_segment(chat_id)}/attendees", ChatAttendee.from_json, {}
        )

    async def list_account_attendees(
        self, *, account_id: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> Page[ChatAttendee]:
        params = _query(account_id=account_id, limit=limit, cursor=cursor)
        return await self._page(
            "/chat_attendees", ChatAttendee.from_json, params, account_id=account_id
        )

    async def get_message(self, message_id: str) -> Message:
        return Message.from_json(await self._get(f"/messages/{path_segment(message_id)}"))

    async def send_chat_message(
        self, chat_id: str, *, text: str, account_id: str | None = None
    ) -> MessageSent:
        form = _multipart({"text": text, "account_id": account_id})
        path = f"/chats/{path_segment(chat_id)}/messages"
        data = await self._send(path, files=form, account_id=account_id)
        return MessageSent.from_json(data)

    async def set_chat_read(self, chat_id: str, *, read: bool) -> None:
        body = {"action": "setReadStatus", "value": read}
        await self._call("PATCH", f"/chats/{path_segment(chat_id)}", json=body)

    # -- emails ---------------------------------------------------------------------------

    def emails_call(self, **filters: Unpack[EmailFilters]) -> ListCall[Email]:
        account_id = filters.get("account_id")
        return ListCall("/emails", _query(**filters), account_id, Email.from_json)

    def email_heads_call(self, **filters: Unpack[EmailFilters]) -> ListCall[EmailHead]:
        """`emails_call` with each email read only as far as `EmailHead` reads it, for a reader
        that shows a few of the emails it lists."""
        account_id = filters.get("account_id")
        return ListCall("/emails", _query(**filters), account_id, EmailHead, shape="heads")

    async def list_emails(self, **filters: Unpack[EmailFilters]) -> Page[Email]:
        return await self.list_page(self.emails_call(**filters))

    async def get_email(self, email_id: str, *, account_id: str | None = None) -> Email:
        data = await self._get(
            f"/emails/{path_segment(email_id)}",
            params=_query(account_id=account_id),
            account_id=account_id,
        )
        return Email.from_json(data)

    async def set_email_read(
        self, email_id: str, *, read: bool, account_id: str | None = None
    ) -> None:
        await self._call(
            "PUT",
            f"/emails/{path_segment(email_id)}",
            params=_query(account_id=account_id),
            json={"unread": not read},
            account_id=account_id,
        )

    async def send_email(
        self,
        *,
        account_id: str,
        body: str,
        to: Sequence[Recipient],
        cc: Sequence[Recipient] = (),
        bcc: Sequence[Recipient] = (),
        subject: str | None = None,
        reply_to: str | None = None,
    ) -> EmailSent:
        form = _multipart(
            {
                "account_id": account_id,
                "body": body,
                "to": _recipients(to),
                "cc": _recipients(cc) if cc else None,
                "bcc": _recipients(bcc) if bcc else None,
                "subject": subject,
                "reply_to": reply_to,
            }
        )
        return EmailSent.from_json(await self._send("/emails", files=form, account_id=account_id))

    async def list_folders(self, *, account_id: str | None = None) -> Page[Folder]:
        params = _query(account_id=account_id)
        return await self._page("/folders", Folder.from_json, params, account_id=account_id)

    # -- webhooks -------------------------------------------------------------------------

    async def list_webhooks(
        self, *, limit: int | None = None, cursor: str | None = None
    ) -> Page[Webhook]:
        return await self._page("/webhooks", Webhook.from_json, _query(limit=limit, cursor=cursor))

    async def create_webhook(
        self,
        *,
        request_url: str,
        source: str,
        name: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
        events: Sequence[str] | None = None,
        account_ids: Sequence[str] | None = None,
    ) -> str:
        """Register a webhook and return its id.

        UniPile sends no ``Content-Type`` on API-created webhooks unless it is in ``headers``.
        """
        body: dict[str, Any] = {
            "request_url": request_url,
            "source": source,
            "headers": [{"key": key, "value": value} for key, value in headers],
        }
        if name is not None:
            body["name"] = name
        if events is not None:
            body["events"] = list(events)
        if account_ids is not None:
            body["account_ids"] = list(account_ids)
        data = await self._send("/webhooks", json=body)
        return str(data["webhook_id"])

    async def delete_webhook(self, webhook_id: str) -> None:
        await self._call("DELETE", f"/webhooks/{path_segment(webhook_id)}")

    # -- transport ------------------------------------------------------------------------

    async def list_data(self, call: ListCall[Any]) -> Any:
        """The page's JSON as UniPile sent it."""
        return await self._get(call.path, params=call.params, account_id=call.account_id)

    async def list_page(self, call: ListCall[T]) -> Page[T]:
        return call.page(await self.list_data(call))

    async def _page(
        self,
        path: str,
        parse: Callable[[Mapping[str, Any]], T],
        params: Mapping[str, str],
        *,
        account_id: str | None = None,
    ) -> Page[T]:
        return await self.list_page(ListCall(path, params, account_id, parse))

    async def _get(
        self, path: str, *, params: Mapping[str, str] | None = None, account_id: str | None = None
    ) -> Any:
        return await self._call("GET", path, params=params, account_id=account_id)

    async def _send(self, path: str, *, account_id: str | None = None, **body: Any) -> Any:
        return await self._call("POST", path, account_id=account_id, idempotent=False, **body)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        account_id: str | None = None,
        idempotent: bool = True,
        **request: Any,
    ) -> Any:
        attempt = 0
        while True:
            deadline = current_deadline()
            try:
                response = await self._attempt(
                    method, path, Attempt(account_id, attempt), request, deadline
                )
            except UnipileError as error:
                delay = self._retry_delay(error, attempt, idempotent)
                if delay is None or not _ends_in_time(delay + MIN_ATTEMPT_SECONDS, deadline):
                    raise
                await asyncio.sleep(delay)
                attempt += 1
                continue
            return _decode_success(response)

    async def _attempt(
        self,
        method: str,
        path: str,
        attempt: Attempt,
        request: Mapping[str, Any],
        deadline: float | None,
    ) -> httpx.Response:
        timeout = self._timeout
        if deadline is not None:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise UpstreamTimeoutError(
                    f"UniPile {method} {path}: the operation's deadline passed"
                ) from _NotSent("not sent: the deadline passed")
            timeout = _capped(timeout, left)
        record_request()
        sent = False
        try:
            # The deadline cuts off the wait for a slot and the request alike: a hung call
            # gives its slot back at the deadline.
            async with asyncio.timeout_at(deadline), self._account_slot(attempt.account_id):
                sent = True
                response = await self._http.request(
                    method,
                    self._base_url + path,
                    headers=self._headers,
                    timeout=timeout,
                    extensions={ATTEMPT_EXTENSION: attempt},
                    **request,
                )
        except httpx.TimeoutException as exc:
            raise UpstreamTimeoutError(f"UniPile {method} {path} timed out") from exc
        except httpx.TransportError as exc:
            raise UpstreamConnectionError(f"UniPile {method} {path}: {exc!r}") from exc
        except TimeoutError as exc:
            message = f"UniPile {method} {path}: cut off at the operation's deadline"
            cause = exc if sent else _NotSent("not sent: the deadline passed")
            raise UpstreamTimeoutError(message) from cause
        if response.is_success:
            return response
        raise _decode_error(response)

    def _retry_delay(self, error: UnipileError, attempt: int, idempotent: bool) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` to give up with ``error``."""
        if attempt >= self._max_retries:
            return None
        if not isinstance(error, RateLimitedError | UpstreamUnavailableError):
            return None
        if not idempotent and not isinstance(error.__cause__, NOTHING_SENT):
            return None
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= self._backoff_max else None
        ceiling = min(self._backoff_max, self._backoff_base * 2**attempt)
        return random.uniform(0.0, ceiling)

    @asynccontextmanager
    async def _account_slot(self, account_id: str | None) -> AsyncIterator[None]:
        # Calls addressed by chat/message id do not name their account, so they are not bounded.
        if account_id is None:
            yield
            return
        semaphore = self._semaphores.get(account_id)
        if semaphore is None:
            semaphore = self._semaphores[account_id] = asyncio.Semaphore(
                self._per_account_concurrency
            )
        async with semaphore:
            yield
