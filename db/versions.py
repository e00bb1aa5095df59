"""Version counters that say when cached data went out of date: in Redis across processes, or in
process memory.

The live cache keeps what it read with the versions of the keys it depends on (an account's live
lists); whoever changes the data bumps the key, and every cache of every
process that reads the versions again sees its copy is out of date. A counter never goes back, so a
copy taken under an older version is never taken for current. Redis keeps the counters without
expiry: an expired counter would start again at 0 and make an old copy look current.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import redis.asyncio as redis

_PREFIX = "switchboard:version:"


class Versions(Protocol):
    async def current(self, keys: Sequence[str]) -> tuple[int, ...]:
        """Each key's version, 0 for a key never bumped."""

    async def bump(self, keys: Iterable[str]) -> None:
        """Mark whatever depends on these keys out of date, in every process."""

    async def aclose(self) -> None:
        """Release connections."""


class MemoryVersions:
    """For one process: the embedded default, like the in-process pub/sub."""

    def __init__(self) -> None:
        self._versions: dict[str, int] = {}

    async def current(self, keys: Sequence[str]) -> tuple[int, ...]:
        return tuple(self._versions.get(key, 0) for key in keys)

    async def bump(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._versions[key] = self._versions.get(key, 0) + 1

    async def aclose(self) -> None:
        return None


class RedisVersions:
    """Shared by every process of a deployment: one round trip reads any number of keys."""

    def __init__(self, url: str) -> None:
        self._redis = redis.from_url(url)

    async def current(self, keys: Sequence[str]) -> tuple[int, ...]:
        if not keys:
            return ()
        values = await self._redis.mget([_PREFIX + key for key in keys])
        return tuple(0 if value is None else int(value) for value in values)

    async def bump(self, keys: Iterable[str]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.incr(_PREFIX + key)
            await pipe.execute()

    async def aclose(self) -> None:
        await self._redis.aclose()


def versions_for(redis_url: str | None) -> Versions:
    return MemoryVersions() if redis_url is None else RedisVersions(redis_url)
