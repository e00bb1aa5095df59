"""Dataloaders, built per request (and per subscription event) inside the running loop."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aiodataloader import DataLoader

from access.scope import UserByIdLoader, ViewerScope
from crm import Identifier, Match, resolve
from crm.loaders import CompanyByIdLoader, ContactByIdLoader
from inbox.state import ConversationKey, ConversationState, conversation_states
from unipile import ChatAttendee, UnipileClient, UnipileError

ChatKey = tuple[str, str]
ATTENDEE_TTL_SECONDS = 300.0
ATTENDEE_CACHE_SIZE = 10_000
ATTENDEE_CONCURRENCY = 8


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


@dataclass(frozen=True, slots=True)
class MembersUnavailable:
    """A group chat whose members UniPile did not give (a DataLoader would raise an exception
    value for every key of the batch, so the failure is wrapped)."""

    error: UnipileError


Members = tuple[ChatAttendee, ...] | MembersUnavailable


class AttendeesByChatLoader(DataLoader[ChatKey, Members]):
    """Keys are (UniPile account id, chat id); an uncached chat costs one request. A failed
    request is the chat's value, not raised: one group chat must not fail a whole page."""

    def __init__(self, client: UnipileClient, cache: AttendeeCache) -> None:
        super().__init__()
        self.client = client
        self.attendees = cache
        self.gate = asyncio.Semaphore(ATTENDEE_CONCURRENCY)

    async def _fetch(self, key: ChatKey) -> Members:
        cached = self.attendees.get(key)
        if cached is not None:
            return cached
        try:
            async with self.gate:
                page = await self.client.list_chat_attendees(key[1])
        except UnipileError as error:
            return MembersUnavailable(error)
        self.attendees.put(key, page.items)
        return page.items

    async def batch_load_fn(self, keys: Sequence[ChatKey]) -> list[Members]:
        return list(await asyncio.gather(*(self._fetch(key) for key in keys)))


@dataclass(slots=True)
class Loaders:
    """Every loader of one request (or one subscription event), for one viewer."""

    crm_match_by_identifier: CrmMatchByIdentifierLoader
    conversation_state_by_key: ConversationStateByKeyLoader
    attendees_by_chat: AttendeesByChatLoader
    contact_by_id: ContactByIdLoader
    company_by_id: CompanyByIdLoader
    user_by_id: UserByIdLoader

    @classmethod
    def for_viewer(
        cls, scope: ViewerScope, unipile: UnipileClient, attendee_cache: AttendeeCache
    ) -> Loaders:
        workspace_id = scope.identity.workspace_id
        return cls(
            crm_match_by_identifier=CrmMatchByIdentifierLoader(
                workspace_id, scope.own_identifiers()
            ),
            conversation_state_by_key=ConversationStateByKeyLoader(workspace_id),
            attendees_by_chat=AttendeesByChatLoader(unipile, attendee_cache),
            contact_by_id=ContactByIdLoader(workspace_id),
            company_by_id=CompanyByIdLoader(workspace_id),
            user_by_id=UserByIdLoader(workspace_id),
        )
