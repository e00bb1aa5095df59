"""The inbox's opaque cursor: where each account's live list stands.

UniPile pages each account separately with cursors of its own; the inbox merges them. For each
account the cursor keeps the UniPile cursor of the page being read (None: the first page), the
position (time, id) of the last row the inbox consumed from it, whether the account is exhausted,
and, for email, short hashes of the threads already shown, because a thread's older emails
appear again further down the email list.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime

import orjson

from core.errors import BadUserInput

CURSOR_VERSION = 1
THREAD_HASH_BYTES = 8
MAX_SEEN_THREADS = 5000


@dataclass(frozen=True, slots=True)
class Position:
    at: datetime | None
    id: str

    def ordering(self) -> tuple[str, str]:
        """Rows are newest first; comparing this descending gives the upstream order."""
        return (self.at.isoformat() if self.at is not None else "", self.id)


@dataclass(frozen=True, slots=True)
class AccountCursor:
    upstream: str | None = None
    after: Position | None = None
    exhausted: bool = False
    seen_threads: frozenset[str] = field(default_factory=frozenset)

    def has_seen(self, thread_id: str) -> bool:
        return thread_hash(thread_id) in self.seen_threads

    def seeing(self, thread_ids: list[str]) -> AccountCursor:
        seen = self.seen_threads | {thread_hash(thread_id) for thread_id in thread_ids}
        return replace(self, seen_threads=seen)


def thread_hash(thread_id: str) -> str:
    digest = hashlib.blake2b(thread_id.encode(), digest_size=THREAD_HASH_BYTES).digest()
    return base64.b64encode(digest).decode()


@dataclass(frozen=True, slots=True)
class InboxCursor:
    filter_key: str
    accounts: dict[str, AccountCursor]


def encode_cursor(cursor: InboxCursor) -> str:
    payload = {
        "v": CURSOR_VERSION,
        "f": cursor.filter_key,
        "a": {
            account_id: {
                "u": state.upstream,
                "p": None if state.after is None else [_iso(state.after.at), state.after.id],
                "x": state.exhausted,
                "s": sorted(state.seen_threads)[:MAX_SEEN_THREADS],
            }
            for account_id, state in cursor.accounts.items()
        },
    }
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode()


def decode_cursor(text: str, filter_key: str) -> InboxCursor:
    """The cursor this server issued for the same filter; anything else is bad input."""
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(text.encode()))
        if payload["v"] != CURSOR_VERSION:
            raise ValueError("unknown version")
        cursor = InboxCursor(
            filter_key=str(payload["f"]),
            accounts={str(key): _account_cursor(value) for key, value in payload["a"].items()},
        )
    except (
        binascii.Error,
        orjson.JSONDecodeError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
    ):
        raise BadUserInput("`after` is not a cursor of this inbox", argument="after") from None
    if cursor.filter_key != filter_key:
        raise BadUserInput("`after` belongs to a list with other filters", argument="after")
    return cursor


def _account_cursor(value: dict[str, object]) -> AccountCursor:
    upstream = value["u"]
    position = value["p"]
    seen = value["s"]
    if upstream is not None and not isinstance(upstream, str):
        raise TypeError("upstream cursor")
    if not isinstance(seen, list):
        raise TypeError("seen threads")
    after = None
    if position is not None:
        if not isinstance(position, list) or len(position) != 2:
            raise TypeError("position")
        at, row_id = position
        after = Position(at=None if at is None else datetime.fromisoformat(str(at)), id=str(row_id))
    return AccountCursor(
        upstream=upstream,
        after=after,
        exhausted=bool(value["x"]),
        seen_threads=frozenset(map(str, seen)),
    )


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()
