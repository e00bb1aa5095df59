"""Where page records and shown threads are kept: Redis across processes, or process memory.

Both expire what they keep `ttl` seconds after it was last written. Memory is also bounded in
count, the oldest going first, so a flood of first pages cannot grow a process without limit.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Generic, Protocol, TypeVar

import redis.asyncio as redis

from paging._state import Ordering

DEFAULT_TTL_SECONDS = 3600
MEMORY_RECORDS = 20_000
MEMORY_SESSIONS = 5_000
_PREFIX = "switchboard:paging:"
_SEPARATOR = "\x1f"
K = TypeVar("K")
V = TypeVar("V")


class PagingStore(Protocol):
    ttl: int

    async def put(self, record_id: str, record: bytes) -> None:
        """Keep a page record for `ttl` seconds."""

    async def get(self, record_id: str) -> bytes | None:
        """The record, or None once it has expired."""

    async def shown(self, session: str, lane: str, threads: Sequence[str]) -> dict[str, Ordering]:
        """Where each of these threads was shown in this walk, for those that were."""

    async def mark_shown(self, session: str, shown: Mapping[str, Mapping[str, Ordering]]) -> None:
        """Record, per lane, the position at which threads were shown."""

    async def aclose(self) -> None:
        """Release connections."""


class _Expiring(Generic[K, V]):
    """An insertion-ordered map whose entries expire, holding at most `size` of them."""

    def __init__(self, ttl: int, size: int) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: K, value: V) -> None:
        self._entries[key] = (time.monotonic() + self.ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


class MemoryPagingStore:
    """For one process: the embedded default, like the in-process pub/sub."""

    def __init__(
        self,
        ttl: int = DEFAULT_TTL_SECONDS,
        records: int = MEMORY_RECORDS,
        sessions: int = MEMORY_SESSIONS,
    ) -> None:
        self.ttl = ttl
        self._records: _Expiring[str, bytes] = _Expiring(ttl, records)
        self._shown: _Expiring[tuple[str, str], dict[str, Ordering]] = _Expiring(ttl, sessions)

    async def put(self, record_id: str, record: bytes) -> None:
        self._records.put(record_id, record)

    async def get(self, record_id: str) -> bytes | None:
        return self._records.get(record_id)

    async def shown(self, session: str, lane: str, threads: Sequence[str]) -> dict[str, Ordering]:
        known = self._shown.get((session, lane)) or {}
        return {thread: known[thread] for thread in threads if thread in known}

    async def mark_shown(self, session: str, shown: Mapping[str, Mapping[str, Ordering]]) -> None:
        for lane, threads in shown.items():
            known = self._shown.get((session, lane)) or {}
            known.update(threads)
            self._shown.put((session, lane), known)

    async def aclose(self) -> None:
        return None


class RedisPagingStore:
    """Shared by every process of a deployment, so a cursor works whichever process it reaches."""

    def __init__(self, url: str, ttl: int = DEFAULT_TTL_SECONDS) -> None:
        self.ttl = ttl
        self._redis = redis.from_url(url)

    async def put(self, record_id: str, record: bytes) -> None:
        await self._redis.set(_PREFIX + "page:" + record_id, record, ex=self.ttl)

    async def get(self, record_id: str) -> bytes | None:
        value = await self._redis.get(_PREFIX + "page:" + record_id)
        return None if value is None else _bytes(value)

    async def shown(self, session: str, lane: str, threads: Sequence[str]) -> dict[str, Ordering]:
        if not threads:
            return {}
        values = await self._redis.hmget(_shown_key(session, lane), list(threads))
        return {
            thread: _ordering(value)
            for thread, value in zip(threads, values, strict=True)
            if value is not None
        }

    async def mark_shown(self, session: str, shown: Mapping[str, Mapping[str, Ordering]]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for lane, threads in shown.items():
                if not threads:
                    continue
                key = _shown_key(session, lane)
                pipe.hset(key, mapping={t: _SEPARATOR.join(o) for t, o in threads.items()})
                pipe.expire(key, self.ttl)
            await pipe.execute()

    async def aclose(self) -> None:
        await self._redis.aclose()


def _shown_key(session: str, lane: str) -> str:
    return f"{_PREFIX}shown:{session}:{lane}"


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _ordering(value: bytes | str) -> Ordering:
    at, _, row_id = _bytes(value).decode().partition(_SEPARATOR)
    return (at, row_id)


def paging_store_for(redis_url: str | None, ttl: int = DEFAULT_TTL_SECONDS) -> PagingStore:
    """Redis when the deployment has it (several processes), else this process's memory."""
    if redis_url is not None:
        return RedisPagingStore(redis_url, ttl)
    return MemoryPagingStore(ttl)
