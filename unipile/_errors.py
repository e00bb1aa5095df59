"""The one exception hierarchy of the UniPile client.

Every failure of a client call surfaces as a :class:`UnipileError`::

    UnipileError                      base; status/type/title/detail of the RFC-7807 body
    ├── AuthenticationError           401 other than account state (bad or missing API key)
    │   └── AccountDisconnectedError  401 errors/disconnected_account and other account-state types
    ├── PermissionDeniedError         403 (feature not subscribed, restricted account...)
    ├── NotFoundError                 404
    │   └── InvalidIdError            an id that cannot name any object; raised before sending
    ├── InvalidRequestError           400, 409, 415, 422 and any other 4xx
    ├── RateLimitedError              429, with retry_after (seconds) from the Retry-After header
    └── UpstreamUnavailableError      5xx, and failures to get any answer at all
        ├── UpstreamTimeoutError      408/504 and client-side timeouts
        └── UpstreamConnectionError   the connection could not be made or was dropped

``AccountDisconnectedError`` subclasses ``AuthenticationError`` because both are 401s: code that
only cares "the call was not authorised" catches the parent, code that wants to show "reconnect
this account" catches the child. ``InvalidIdError`` subclasses ``NotFoundError`` because an id
that could not be put in a URL path (``..``, a control character...) names nothing: callers that
answer "not found" need no extra case, and no request is sent for it. ``status`` is ``None`` when
no HTTP answer was received. ``may_have_been_accepted`` tells, for a failed send, whether
UniPile may still have taken the message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

__all__ = [
    "AccountDisconnectedError",
    "AuthenticationError",
    "InvalidIdError",
    "InvalidRequestError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "UnipileError",
    "UpstreamConnectionError",
    "UpstreamTimeoutError",
    "UpstreamUnavailableError",
    "error_from_response",
    "may_have_been_accepted",
]

# Errors that prove the request never left this process.
NOTHING_SENT = (httpx.ConnectError, httpx.ConnectTimeout)

# Guess: the reference lists these 401 types without saying which ones describe the connected
# account rather than the API key; these are the ones whose remedy is reconnecting the account.
ACCOUNT_STATE_TYPES = frozenset(
    {
        "errors/disconnected_account",
        "errors/disconnected_feature",
        "errors/expired_credentials",
        "errors/multiple_sessions",
        "errors/invalid_credentials_but_valid_account_imap",
        "errors/wrong_account",
    }
)


class UnipileError(Exception):
    """Base of every client error; keeps the fields of the RFC-7807 body when there was one."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        type: str | None = None,
        title: str | None = None,
        detail: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        """Seconds to wait before trying again, from a Retry-After header (429 and 503)."""
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail


class AuthenticationError(UnipileError):
    """401: the API key is missing or wrong."""


class AccountDisconnectedError(AuthenticationError):
    """401 about the connected account's state: the user must reconnect it."""


class PermissionDeniedError(UnipileError):
    """403: the key or account may not do this."""


class NotFoundError(UnipileError):
    """404: unknown id."""


class InvalidIdError(NotFoundError):
    """An id refused by the client itself, before any request: it could not name an object."""


class InvalidRequestError(UnipileError):
    """4xx caused by the request itself: bad parameters, conflict, unprocessable send..."""


class RateLimitedError(UnipileError):
    """429, still failing after the retries the client allows itself; see ``retry_after``."""


class UpstreamUnavailableError(UnipileError):
    """5xx, or no usable answer from UniPile."""


class UpstreamTimeoutError(UpstreamUnavailableError):
    """No answer in time (client timeout, or a 408/504 from UniPile)."""


class UpstreamConnectionError(UpstreamUnavailableError):
    """The connection could not be opened or broke before an answer."""


def _error_class(status: int, type_: str | None) -> type[UnipileError]:
    if status == 401:
        return AccountDisconnectedError if type_ in ACCOUNT_STATE_TYPES else AuthenticationError
    if status in (408, 504):
        return UpstreamTimeoutError
    if status >= 500:
        return UpstreamUnavailableError
    return {
        403: PermissionDeniedError,
        404: NotFoundError,
        429: RateLimitedError,
    }.get(status, InvalidRequestError)


def _text(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    return value if isinstance(value, str) else None


def error_from_response(
    status: int, body: object, *, retry_after: float | None = None
) -> UnipileError:
    """Build the error for a non-2xx answer; ``body`` is the decoded JSON or anything else."""
    fields = body if isinstance(body, Mapping) else {}
    type_, title, detail = _text(fields, "type"), _text(fields, "title"), _text(fields, "detail")
    cls = _error_class(status, type_)
    message = f"UniPile answered {status} {type_ or ''}: {detail or title or ''}".rstrip(": ")
    return cls(
        message, status=status, type=type_, title=title, detail=detail, retry_after=retry_after
    )


def may_have_been_accepted(error: UnipileError) -> bool:
    """Whether UniPile may have acted on a request that failed: an answer of 4xx is a refusal and
    a connection never opened sent nothing, but a 5xx, a timeout or a connection dropped midway
    leave the outcome unknown."""
    return isinstance(error, UpstreamUnavailableError) and not isinstance(
        error.__cause__, NOTHING_SENT
    )
