"""Database reads kept across requests: the versions they are kept under, the bounded cache that
holds them, and the bump every writer makes when it changes what they hold.

A workspace's row carries one version per kind of kept read (`Kept`): the viewer's scope reads
the row on every request, so a request learns the versions at no extra query, before any kept
read is used. An entry is served only while its version is unchanged; a writer bumps in the
transaction of its change, so a copy read before the change is never taken for current, and the
bump, made in the database, is seen by every process (operator commands included) without Redis.
A write made around the writers (an operator's SQL) is seen at the latest `MAX_AGE_SECONDS` on.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from tortoise.expressions import F

from core.read_ledger import note_fresh_until
from db.models import Workspace

__all__ = ["MAX_AGE_SECONDS", "Kept", "VersionedCache", "bump", "bumped_after"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# A bound on how long a write made where no version is bumped (an operator's SQL) stays unseen.
MAX_AGE_SECONDS = 300.0


class Kept(StrEnum):
    """What a workspace keeps read across requests, each named by its version's column."""

    # The channel policies and the never-store list.
    STORAGE_RULES = "rules_version"
    # The contacts, companies, identifiers and domains that CRM matches are made of.
    CRM_RECORDS = "crm_version"
    # The stored copies and links of conversations: what a page's storage states are made of.
    STORED_CONVERSATIONS = "stored_version"


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

    def get(self, key: K, versions: tuple[int, ...]) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.versions != versions or self.clock() - entry.read_at > self.max_age:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        note_fresh_until(entry.read_at + self.max_age)
        return entry.value

    def put(self, key: K, versions: tuple[int, ...], value: V) -> None:
        self._entries[key] = _Entry(versions, self.clock(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


@asynccontextmanager
async def bumped_after(workspace_id: int, kept: Kept) -> AsyncIterator[None]:
    """Bump once the block has succeeded. Inside a transaction, as its last statement: the
    change and its version commit together, so no reader sees the one without the other (a
    reader that read the version before the commit read the data before it too), and the
    workspace's row stays locked only while the commit is made."""
    yield
    await bump(workspace_id, kept)


async def bump(workspace_id: int, kept: Kept) -> None:
    """After a committed change: what the workspace kept of `kept` is out of date everywhere."""
    await Workspace.filter(id=workspace_id).update(**{kept.value: F(kept.value) + 1})
