"""The live cache: the pages of UniPile's chat and email lists the inbox reads, parsed once and
shared by every request of the process that asks for the same page.

A page is kept with the version of its account's live lists (`db.versions`, in Redis across
processes when `REDIS_URL` is set). A page is current while that version has not changed and it is
younger than `ttl` seconds; whatever changes an account's lists (its webhooks: a new message or
email, a read, a reaction, an account status; and Switchboard's own sends and reads) calls
`invalidate`, so the next read fetches again. However many requests ask for a page at once, one
upstream call fetches it and all of them wait for that call. With Redis, a page one process read
is kept there as UniPile's JSON under its version, for the rest of its freshness, so the other
processes parse it instead of asking UniPile again.

The last good copy of a page outlives its version: when UniPile fails, the inbox serves it with the
error (`Listing.error`) instead of nothing. Entries are bounded in number, least recently used
going first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

import orjson
import redis.asyncio as redis
from redis.exceptions import RedisError

from core.read_ledger import note_read, note_unkeepable
from db.versions import Versions
from unipile import (
    InvalidRequestError,
    ListCall,
    NotFoundError,
    Page,
    UnipileClient,
    UnipileError,
)

DEFAULT_TTL_SECONDS = 60.0
DEFAULT_ENTRIES = 256
T = TypeVar("T")
_SHARED_PREFIX = "switchboard:live-page:"
_LAST_GOOD_PREFIX = "switchboard:live-page-last:"
# How long a page another process read may stand in for a list that fails here.
LAST_GOOD_SECONDS = 24 * 3600.0
log = logging.getLogger(__name__)
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
    # Pages another process read, found in Redis.
    shared_hits: int = 0
    misses: int = 0
    shared: int = 0
    stale: int = 0
    invalidations: int = 0


def live_lists_version(unipile_id: str) -> str:
    """The version key of one account's live lists."""
    return f"live:{unipile_id}"


class SharedPages(Protocol):
    """Where the processes of a deployment share the pages they read: each under its version
    for the rest of its freshness, and the last good one of each list for longer, to stand in
    when UniPile fails in a process that never read it."""

    async def get(self, key: str) -> bytes | str | None: ...

    async def last(self, call_key: str) -> bytes | str | None: ...

    async def put(self, key: str, call_key: str, page: bytes, ttl: float) -> None: ...

    async def aclose(self) -> None: ...


class RedisSharedPages:
    """Pages as UniPile's JSON in Redis. Redis failing costs a process its sharing, never a
    read."""

    def __init__(self, url: str, last_good_seconds: float = LAST_GOOD_SECONDS) -> None:
        self._redis = redis.from_url(url)
        self.last_good_seconds = last_good_seconds

    async def get(self, key: str) -> bytes | str | None:
        return await self._read(_SHARED_PREFIX + key)

    async def last(self, call_key: str) -> bytes | str | None:
        return await self._read(_LAST_GOOD_PREFIX + call_key)

    async def _read(self, key: str) -> bytes | str | None:
        try:
            value: bytes | str | None = await self._redis.get(key)
        except RedisError:
            log.warning("reading a shared live page failed", exc_info=True)
            return None
        return value

    async def put(self, key: str, call_key: str, page: bytes, ttl: float) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(_SHARED_PREFIX + key, page, px=_milliseconds(ttl))
                pipe.set(
                    _LAST_GOOD_PREFIX + call_key, page, px=_milliseconds(self.last_good_seconds)
                )
                await pipe.execute()
        except RedisError:
            log.warning("sharing a live page failed", exc_info=True)

    async def aclose(self) -> None:
        await self._redis.aclose()


def _milliseconds(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def shared_pages_for(redis_url: str | None) -> SharedPages | None:
    return None if redis_url is None else RedisSharedPages(redis_url)


class LiveCache:
    def __init__(
        self,
        client: UnipileClient,
        versions: Versions,
        *,
        shared: SharedPages | None = None,
        ttl: float = DEFAULT_TTL_SECONDS,
        entries: int = DEFAULT_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.versions = versions
        self.shared = shared
        self.ttl = ttl
        self.size = entries
        self.clock = clock
        self.stats = CacheStats()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._flights: dict[tuple[str, int], asyncio.Future[Listing[Any]]] = {}

    async def invalidate(self, unipile_ids: Iterable[str]) -> None:
        """The accounts' lists changed upstream: every process reads them again."""
        keys = [live_lists_version(unipile_id) for unipile_id in unipile_ids]
        self.stats.invalidations += len(keys)
        await self.versions.bump(keys)

    def __len__(self) -> int:
        return len(self._entries)

    def holds(self, keys: Iterable[str]) -> bool:
        """Whether each of these pages is still cached and fresh (its version aside): what was
        made of them is what reading them again would make. Each is used again by that, as a
        read of it would be, so that pages served only through kept answers stay cached."""
        now = self.clock()
        for key in keys:
            entry = self._entries.get(key)
            if entry is None or now >= entry.fresh_until:
                return False
            self._entries.move_to_end(key)
        return True

    async def aclose(self) -> None:
        """Stop the fetches under way: those whose readers went (a failed operation) would
        otherwise outlive the app."""
        flights = list(self._flights.values())
        for flight in flights:
            flight.cancel()
        await asyncio.gather(*flights, return_exceptions=True)
        if self.shared is not None:
            await self.shared.aclose()

    async def read(self, unipile_id: str, call: ListCall[T]) -> Listing[T]:
        """The account's page: cached while current, else read once however many ask."""
        version_key = live_lists_version(unipile_id)
        [version] = await self.versions.current([version_key])
        key = call.key
        entry = self._entries.get(key)
        if entry is not None and entry.version == version and self.clock() < entry.fresh_until:
            self.stats.hits += 1
            self._entries.move_to_end(key)
            note_read(version_key, version, entry.fresh_until, key)
            return entry.listing
        flight = self._flights.get((key, version))
        if flight is not None:
            self.stats.shared += 1
        else:
            flight = asyncio.ensure_future(self._fetch(unipile_id, call, version))
            self._flights[(key, version)] = flight
            flight.add_done_callback(lambda done: self._land((key, version), done))
        listing: Listing[T] = await asyncio.shield(flight)
        self._note(version_key, key, listing)
        return listing

    def _note(self, version_key: str, key: str, listing: Listing[Any]) -> None:
        """Tell the operation's ledger what its answer read: the page as kept, or a page that
        is not (a stand-in for a failed read), which no kept answer may be made of."""
        entry = self._entries.get(key)
        if entry is None or entry.listing is not listing:
            note_unkeepable()
            return
        note_read(version_key, entry.version, entry.fresh_until, key)

    def _land(self, flight: tuple[str, int], task: asyncio.Future[Listing[Any]]) -> None:
        self._flights.pop(flight, None)
        # Every waiter may have gone (their requests cancelled): the failure is theirs, not a leak.
        if not task.cancelled():
            task.exception()

    async def _fetch(self, unipile_id: str, call: ListCall[T], version: int) -> Listing[T]:
        shared_key = f"{unipile_id}:{version}:{call.key}"
        listing: Listing[T] | None = await self._shared_listing(shared_key, call)
        if listing is None:
            self.stats.misses += 1
            try:
                data = await self.client.list_data(call)
            except _NOT_STANDING_IN:
                raise
            except UnipileError as error:
                return await self._stand_in(call, error)
            listing = Listing(call.page(data), datetime.now(UTC))
            await self._share(shared_key, call, listing, data)
        age = (datetime.now(UTC) - listing.fetched_at).total_seconds()
        self._keep(call.key, _Entry(version, self.clock() + self.ttl - age, listing))
        return listing

    async def _stand_in(self, call: ListCall[T], error: UnipileError) -> Listing[T]:
        """The last good copy of the page, this process's or, failing that, the deployment's."""
        last = self._entries.get(call.key)
        if last is not None:
            self.stats.stale += 1
            return Listing(last.listing.page, last.listing.fetched_at, error)
        shared = None if self.shared is None or self.ttl <= 0 else await self.shared.last(call.key)
        if shared is None:
            raise error
        self.stats.stale += 1
        listing = self._listing_of(shared, call)
        return Listing(listing.page, listing.fetched_at, error)

    async def _shared_listing(self, shared_key: str, call: ListCall[T]) -> Listing[T] | None:
        if self.shared is None or self.ttl <= 0:
            return None
        found = await self.shared.get(shared_key)
        if found is None:
            return None
        self.stats.shared_hits += 1
        return self._listing_of(found, call)

    @staticmethod
    def _listing_of(shared: bytes | str, call: ListCall[T]) -> Listing[T]:
        kept = orjson.loads(shared)
        return Listing(call.page(kept["data"]), datetime.fromisoformat(kept["fetched_at"]))

    async def _share(
        self, shared_key: str, call: ListCall[Any], listing: Listing[Any], data: Any
    ) -> None:
        if self.shared is None or self.ttl <= 0:
            return
        page = orjson.dumps({"fetched_at": listing.fetched_at.isoformat(), "data": data})
        await self.shared.put(shared_key, call.key, page, self.ttl)

    def _keep(self, key: str, entry: _Entry) -> None:
        current = self._entries.get(key)
        # A slower fetch under an older version must not replace a newer page.
        if current is not None and current.version > entry.version:
            return
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
