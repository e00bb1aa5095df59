"""The id of the unit of work under way (an HTTP request, a WebSocket, a webhook receipt's
processing), in a context variable: tasks started inside it inherit it, so every log line and
UniPile call it causes carries the id without being passed anything."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"
MAX_REQUEST_ID_LENGTH = 128
# What a proxy or a client's tracing puts there (UUIDs, hex, base64url, `a.b:c`): anything else
# could forge a log line or smuggle a token into the logs, so it is replaced, not escaped.
_SANE_REQUEST_ID = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_REQUEST_ID_LENGTH}}}")

_current: ContextVar[str | None] = ContextVar("switchboard_request_id", default=None)


def new_request_id() -> str:
    return secrets.token_hex(16)


def accepted_request_id(offered: str | None) -> str:
    """`offered` (a caller's `X-Request-ID`) when it is a sane token, otherwise a fresh id."""
    if offered is not None and _SANE_REQUEST_ID.fullmatch(offered):
        return offered
    return new_request_id()


def current_request_id() -> str | None:
    return _current.get()


@contextmanager
def request_id_scope(request_id: str | None) -> Iterator[str | None]:
    """Make `request_id` the current id inside the block (and the tasks it starts); None: no
    id, as outside any request."""
    token = _current.set(request_id)
    try:
        yield request_id
    finally:
        _current.reset(token)
