"""Database reads kept across requests: the version keys they depend on, the bounded cache that
holds them, and the bump every writer makes after changing what they hold.

An entry is kept with the versions (`db.versions`) its keys had when it was read, read before
the database was; it is served only while they are unchanged. A writer bumps after its change is
committed, so a copy read before the change is never taken for current (its versions are older)
and a copy read after it carries the new ones.

Writers reach the versions of every app of the process (resolvers, webhooks and operator commands
alike) through `watch_versions`, which the app's `Services` calls when built. An operator command
runs in a process of its own: it must watch `db.versions.versions_for(REDIS_URL)` for the servers
to see its changes; without Redis no other process can (then `MAX_AGE_SECONDS` bounds it).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

from db.versions import MemoryVersions, Versions

__all__ = [
    "MAX_AGE_SECONDS",
    "VersionSnapshot",
    "VersionedCache",
    "bind_versions",
    "bump_versions",
    "bumped_after",
    "crm_records_key",
    "read_snapshot",
    "storage_rules_key",
    "user_key",
    "watch_versions",
    "workspace_key",
]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# A bound on how long a write made where no version is bumped (an operator's SQL) stays unseen.
MAX_AGE_SECONDS = 300.0


def user_key(user_id: int) -> str:
    """A user's row: active, role, workspace."""
    return f"user:{user_id}"


def workspace_key(workspace_id: int) -> str:
    """A workspace's row and its accounts: connected, detached, shared, status, own identifiers."""
    return f"workspace:{workspace_id}"


def storage_rules_key(workspace_id: int) -> str:
    """A workspace's channel policies and never-store list."""
    return f"rules:{workspace_id}"


def crm_records_key(workspace_id: int) -> str:
    """A workspace's contacts, companies, identifiers and domains: what its matches are made of."""
    return f"crm:{workspace_id}"


@dataclass(frozen=True, slots=True)
class VersionSnapshot:
    """The versions of every key one request depends on, read in one round trip."""

    versions: Mapping[str, int]

    def of(self, keys: Iterable[str]) -> tuple[int, ...] | None:
        """The keys' versions; None when one was not read (nothing cached may then be used)."""
        try:
            return tuple(self.versions[key] for key in keys)
        except KeyError:
            return None


async def read_snapshot(versions: Versions, keys: Sequence[str]) -> VersionSnapshot:
    return VersionSnapshot(dict(zip(keys, await versions.current(keys), strict=True)))


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    versions: tuple[int, ...]
    read_at: float
    value: V


class VersionedCache(Generic[K, V]):
    """At most `size` entries, the least recently used dropped first; each served only under the
    versions it was read with and for at most `max_age` seconds."""

    def __init__(
        self,
        size: int,
        *,
        max_age: float = MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.size = size
        self.max_age = max_age
        self.clock = clock
        self._entries: OrderedDict[K, _Entry[V]] = OrderedDict()

    def get(self, key: K, versions: tuple[int, ...] | None) -> V | None:
        entry = self._entries.get(key)
        if entry is None or versions is None:
            return None
        if entry.versions != versions or self.clock() - entry.read_at > self.max_age:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry.value

    def put(self, key: K, versions: tuple[int, ...] | None, value: V) -> None:
        if versions is None:
            return
        self._entries[key] = _Entry(versions, self.clock(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(slots=True)
class _Watched:
    versions: weakref.ref[Versions]
    # The loop a client of shared versions (Redis) works in: its connections belong to it.
    loop: weakref.ref[asyncio.AbstractEventLoop] | None = None


_watched: list[_Watched] = []


def watch_versions(versions: Versions) -> None:
    """Make every writer of this process bump `versions` too."""
    _watched.append(_Watched(weakref.ref(versions)))


def bind_versions(versions: Versions) -> None:
    """`versions` works in the running loop: writers of other loops leave it alone."""
    loop = asyncio.get_running_loop()
    for entry in _watched:
        if entry.versions() is versions and entry.loop is None:
            entry.loop = weakref.ref(loop)


def _bumped_here() -> list[Versions]:
    """In-process versions of every app; shared ones only through a client of this loop, the
    first writer binding a client that no loop used yet (one process serves one app, but a test
    process starts one after another, each in its own loop)."""
    loop = asyncio.get_running_loop()
    found: list[Versions] = []
    for entry in list(_watched):
        versions = entry.versions()
        if versions is None:
            _watched.remove(entry)
        elif isinstance(versions, MemoryVersions):
            found.append(versions)
        else:
            if entry.loop is None:
                entry.loop = weakref.ref(loop)
            if entry.loop() is loop:
                found.append(versions)
    return found


async def bump_versions(keys: Iterable[str]) -> None:
    """After a committed change: whatever was read under these keys is out of date everywhere."""
    wanted = list(keys)
    for versions in _bumped_here():
        await versions.bump(wanted)


@asynccontextmanager
async def bumped_after(keys: Iterable[str]) -> AsyncIterator[None]:
    """Bump once the block is over, outside any transaction it opens: also when it fails, since
    a bump too many costs one read, and one too few serves a stale copy."""
    try:
        yield
    finally:
        await bump_versions(keys)
