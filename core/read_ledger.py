"""What one operation's answer was made of, for keeping the answer (`server.kept_responses`).

An answer may be kept and given again only while everything it was made of is unchanged. The
reads that know their own versions note them here as they are made (the live cache: its account's
version and until when its page is fresh), and the writes that must be made again with the answer
(paging records); whatever makes an answer more than such reads (a write,
a query of an operation that is not a query, storage queued, a read that knows no version) marks
it `unkeepable`. The ledger is a context variable, so the tasks an operation starts note into it.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(slots=True)
class ReadLedger:
    versions: dict[str, int] = field(default_factory=dict)
    """The version, by key (`db.versions`), of each versioned read the answer used."""
    pages: set[str] = field(default_factory=set)
    """The cached pages those reads were served from, which must still be cached."""
    fresh_until: float = math.inf
    """The clock time after which one of those reads is no longer fresh."""
    unkeepable: bool = False
    rewrites: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Writes the answer's reads made that giving it again must make again: its paging records,
    which expire from when they were last written."""
    rewrite_bytes: int = 0
    """What the rewrites hold."""

    def read(self, key: str, version: int, fresh_until: float, page: str) -> None:
        self.pages.add(page)
        known = self.versions.setdefault(key, version)
        if known != version:
            # Two versions of one list in one answer: it was made while the list changed.
            self.unkeepable = True
        self.fresh_until = min(self.fresh_until, fresh_until)


_current: ContextVar[ReadLedger | None] = ContextVar("switchboard_read_ledger", default=None)


@contextmanager
def recording() -> Iterator[ReadLedger]:
    """Note the reads made inside the block (and its tasks) in a new ledger."""
    ledger = ReadLedger()
    token = _current.set(ledger)
    try:
        yield ledger
    finally:
        _current.reset(token)


def note_read(key: str, version: int, fresh_until: float, page: str) -> None:
    """A read of the data under `key`'s `version`, fresh until `fresh_until`, served from the
    cached `page`."""
    ledger = _current.get()
    if ledger is not None:
        ledger.read(key, version, fresh_until, page)


def note_fresh_until(deadline: float) -> None:
    """A read of the operation under way that is not to be served after `deadline` (a cache
    bounded in age rather than versioned)."""
    ledger = _current.get()
    if ledger is not None:
        ledger.fresh_until = min(ledger.fresh_until, deadline)


def note_rewrite(write: Callable[[], Awaitable[None]], size: Callable[[], int]) -> None:
    """A write of the operation under way, holding `size()` bytes (measured only when a ledger
    records), that an answer given again must repeat."""
    ledger = _current.get()
    if ledger is not None:
        ledger.rewrites.append(write)
        ledger.rewrite_bytes += size()


def note_unkeepable() -> None:
    """The operation under way did something its answer given again would not do."""
    ledger = _current.get()
    if ledger is not None:
        ledger.unkeepable = True
