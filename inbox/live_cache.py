"""The live cache: the pages of UniPile's chat and email lists the inbox reads, parsed once and
shared by every request of the process that asks for the same page.

A page is kept with the version of its account's live lists (`db.versions`, in Redis across
processes when `REDIS_URL` is set). A page is current while that version has not changed and it is
younger than `ttl` seconds; whatever changes an account's lists (its webhooks: a new message or
email, a read, a reaction, an account status; and Switchboard's own sends and reads) calls
`invalidate`, so the next read fetches again. However many requests ask for a page at once, one
upstream call fetches it and all of them wait for that call.

The last good copy of a page outlives its version: when UniPile fails, the inbox serves it with the
error (`Listing.error`) instead of nothing. Entries are bounded in number, least recently used
going first.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from db.versions import Versions
from unipile import (
    Chat,
    Email,
    InvalidRequestError,
    NotFoundError,
    Page,
    UnipileClient,
    UnipileError,
)

DEFAULT_TTL_SECONDS = 60.0
DEFAULT_ENTRIES = 256
T = TypeVar("T")
CacheKey = tuple[Any, ...]
# Failures that say the request itself was wrong: a copy of another request's answer is no answer.
_NOT_STANDING_IN = (InvalidRequestError, NotFoundError)


@dataclass(frozen=True, slots=True)
class Listing(Generic[T]):
    """A page of a live list, and when it was read from UniPile."""

    page: Page[T]
    fetched_at: datetime
    # Set when UniPile failed and this is the last good copy, served in its place.
    error: UnipileError | None = None


@dataclass(frozen=True, slots=True)
class _Entry:
    version: int
    fresh_until: float
    listing: Listing[Any]


@dataclass(slots=True)
class CacheStats:
    """What the cache did since it started: for the cost report, tests and metrics."""

    hits: int = 0
    misses: int = 0
    shared: int = 0
    stale: int = 0
    invalidations: int = 0


def live_lists_version(unipile_id: str) -> str:
    """The version key of one account's live lists."""
    return f"live:{unipile_id}"


class LiveCache:
    def __init__(
        self,
        client: UnipileClient,
        versions: Versions,
        *,
        ttl: float = DEFAULT_TTL_SECONDS,
        entries: int = DEFAULT_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.versions = versions
        self.ttl = ttl
        self.size = entries
        self.clock = clock
        self.stats = CacheStats()
        self._entries: OrderedDict[CacheKey, _Entry] = OrderedDict()
        self._flights: dict[tuple[CacheKey, int], asyncio.Future[Listing[Any]]] = {}

    async def chats(
        self, unipile_id: str, *, unread: bool | None, limit: int | None, cursor: str | None
    ) -> Listing[Chat]:
        def fetch() -> Awaitable[Page[Chat]]:
            return self.client.list_chats(
                account_id=unipile_id, unread=unread, limit=limit, cursor=cursor
            )

        return await self._read(unipile_id, ("chats", unipile_id, unread, limit, cursor), fetch)

    async def emails(
        self, unipile_id: str, *, folder: str | None, limit: int | None, cursor: str | None
    ) -> Listing[Email]:
        def fetch() -> Awaitable[Page[Email]]:
            return self.client.list_emails(
                account_id=unipile_id, folder=folder, meta_only=True, limit=limit, cursor=cursor
            )

        return await self._read(unipile_id, ("emails", unipile_id, folder, limit, cursor), fetch)

    async def invalidate(self, unipile_ids: Iterable[str]) -> None:
        """The accounts' lists changed upstream: every process reads them again."""
        keys = [live_lists_version(unipile_id) for unipile_id in unipile_ids]
        self.stats.invalidations += len(keys)
        await self.versions.bump(keys)

    def __len__(self) -> int:
        return len(self._entries)

    async def aclose(self) -> None:
        """Stop the fetches under way: those whose readers went (a failed operation) would
        otherwise outlive the app."""
        flights = list(self._flights.values())
        for flight in flights:
            flight.cancel()
        await asyncio.gather(*flights, return_exceptions=True)

    async def _read(
        self, unipile_id: str, key: CacheKey, fetch: Callable[[], Awaitable[Page[T]]]
    ) -> Listing[T]:
        [version] = await self.versions.current([live_lists_version(unipile_id)])
        entry = self._entries.get(key)
        if entry is not None and entry.version == version and self.clock() < entry.fresh_until:
            self.stats.hits += 1
            self._entries.move_to_end(key)
            return entry.listing
        flight = self._flights.get((key, version))
        if flight is not None:
            self.stats.shared += 1
            return await asyncio.shield(flight)
        self.stats.misses += 1
        task = asyncio.ensure_future(self._fetch(key, version, fetch))
        self._flights[(key, version)] = task
        task.add_done_callback(lambda done: self._land((key, version), done))
        return await asyncio.shield(task)

    def _land(self, flight: tuple[CacheKey, int], task: asyncio.Future[Listing[Any]]) -> None:
        self._flights.pop(flight, None)
        # Every waiter may have gone (their requests cancelled): the failure is theirs, not a leak.
        if not task.cancelled():
            task.exception()

    async def _fetch(
        self, key: CacheKey, version: int, fetch: Callable[[], Awaitable[Page[T]]]
    ) -> Listing[T]:
        try:
            page = await fetch()
        except _NOT_STANDING_IN:
            raise
        except UnipileError as error:
            last = self._entries.get(key)
            if last is None:
                raise
            self.stats.stale += 1
            return Listing(last.listing.page, last.listing.fetched_at, error)
        listing = Listing(page, datetime.now(UTC))
        self._keep(key, _Entry(version, self.clock() + self.ttl, listing))
        return listing

    def _keep(self, key: CacheKey, entry: _Entry) -> None:
        current = self._entries.get(key)
        # A slower fetch under an older version must not replace a newer page.
        if current is not None and current.version > entry.version:
            return
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
