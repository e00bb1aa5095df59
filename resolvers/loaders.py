"""Dataloaders, built per request (and per subscription event) inside the running loop."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from aiodataloader import DataLoader

from crm import Identifier, Match, resolve
from resolvers.conversation_state import ConversationKey, ConversationState, conversation_states
from unipile import ChatAttendee, UnipileClient

ChatKey = tuple[str, str]
ATTENDEE_TTL_SECONDS = 300.0
ATTENDEE_CACHE_SIZE = 10_000
ATTENDEE_CONCURRENCY = 8
SHARED_RESULTS_SIZE = 256
T = TypeVar("T")


class AttendeeCache:
    """Group chats' members, kept a few minutes per process: they change rarely, and UniPile's
    chat list does not carry them, so each uncached group costs one request."""

    def __init__(self, ttl: float = ATTENDEE_TTL_SECONDS, size: int = ATTENDEE_CACHE_SIZE) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[ChatKey, tuple[float, tuple[ChatAttendee, ...]]] = OrderedDict()

    def get(self, key: ChatKey) -> tuple[ChatAttendee, ...] | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: ChatKey, attendees: tuple[ChatAttendee, ...]) -> None:
        self._entries[key] = (time.monotonic() + self.ttl, attendees)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, key: ChatKey) -> None:
        self._entries.pop(key, None)


class CrmMatchByIdentifierLoader(DataLoader[Identifier, Match]):
    def __init__(self, workspace_id: int, own_identifiers: Iterable[Identifier]) -> None:
        super().__init__()
        self.workspace_id = workspace_id
        self.own_identifiers = tuple(own_identifiers)

    async def batch_load_fn(self, keys: Sequence[Identifier]) -> list[Match]:
        matches = await resolve(self.workspace_id, keys, own_identifiers=self.own_identifiers)
        return [matches[key] for key in keys]


class ConversationStateByKeyLoader(DataLoader[ConversationKey, ConversationState]):
    def __init__(self, workspace_id: int) -> None:
        super().__init__()
        self.workspace_id = workspace_id

    async def batch_load_fn(self, keys: Sequence[ConversationKey]) -> list[ConversationState]:
        states = await conversation_states(self.workspace_id, keys)
        return [states[key] for key in keys]


class AttendeesByChatLoader(DataLoader[ChatKey, tuple[ChatAttendee, ...]]):
    """Keys are (UniPile account id, chat id); an uncached chat costs one request."""

    def __init__(self, client: UnipileClient, cache: AttendeeCache) -> None:
        super().__init__()
        self.client = client
        self.attendees = cache
        self.gate = asyncio.Semaphore(ATTENDEE_CONCURRENCY)

    async def _fetch(self, key: ChatKey) -> tuple[ChatAttendee, ...]:
        cached = self.attendees.get(key)
        if cached is not None:
            return cached
        async with self.gate:
            page = await self.client.list_chat_attendees(key[1])
        self.attendees.put(key, page.items)
        return page.items

    async def batch_load_fn(self, keys: Sequence[ChatKey]) -> list[tuple[ChatAttendee, ...]]:
        return list(await asyncio.gather(*(self._fetch(key) for key in keys)))


class SharedResults(Generic[T]):
    """Results per event id, computed by the first subscriber that needs them and awaited by the
    others: an event's facts are the same for every viewer of a workspace."""

    def __init__(self, size: int = SHARED_RESULTS_SIZE) -> None:
        self.size = size
        self._tasks: OrderedDict[str, asyncio.Future[T]] = OrderedDict()

    async def get(self, event_id: str, compute: Callable[[], Awaitable[T]]) -> T:
        task = self._tasks.get(event_id)
        if task is None:
            task = asyncio.ensure_future(compute())
            self._tasks[event_id] = task
            while len(self._tasks) > self.size:
                self._tasks.popitem(last=False)
        return await asyncio.shield(task)


@dataclass(slots=True)
class Loaders:
    crm_match_by_identifier: CrmMatchByIdentifierLoader
    conversation_state_by_key: ConversationStateByKeyLoader
    attendees_by_chat: AttendeesByChatLoader
