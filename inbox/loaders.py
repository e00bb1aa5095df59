"""Dataloaders, built per request (and per subscription event) inside the running loop."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from aiodataloader import DataLoader

from access.scope import UserByIdLoader, ViewerScope
from core.read_ledger import note_fresh_until
from crm import Identifier, Match, MatchCache, StorageRules, load_storage_rules, resolve_cached
from crm.caching import Kept, VersionedCache
from crm.loaders import CompanyByIdLoader, ContactByIdLoader
from inbox.state import ConversationKey, ConversationState, conversation_states, states_and_rules
from unipile import ChatAttendee, UnipileClient, UnipileError

ChatKey = tuple[str, str]
ATTENDEE_TTL_SECONDS = 300.0
ATTENDEE_CACHE_SIZE = 10_000
ATTENDEE_CONCURRENCY = 8
# How many workspaces' rules, identifiers' matches and conversations' states one process keeps.
RULES_CACHE_SIZE = 10_000
MATCH_CACHE_SIZE = 100_000
STATE_CACHE_SIZE = 100_000

# A conversation's state under its workspace: (workspace id, account id, external id).
StateCache = VersionedCache[tuple[int, int, str], ConversationState]


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
        note_fresh_until(entry[0])
        return entry[1]

    def put(self, key: ChatKey, attendees: tuple[ChatAttendee, ...]) -> None:
        self._entries[key] = (time.monotonic() + self.ttl, attendees)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, key: ChatKey) -> None:
        self._entries.pop(key, None)


@dataclass(slots=True)
class ReadCaches:
    """What one process keeps of database reads across requests, each entry under the version
    its workspace's row gave when it was read (`crm.caching`)."""

    rules: VersionedCache[int, StorageRules] = field(
        default_factory=lambda: VersionedCache(RULES_CACHE_SIZE)
    )
    matches: MatchCache = field(default_factory=lambda: MatchCache(MATCH_CACHE_SIZE))
    states: StateCache = field(default_factory=lambda: StateCache(STATE_CACHE_SIZE))


@dataclass(slots=True)
class RequestRules:
    """The workspace's storage rules for one request: kept from an earlier request, read with the
    first batch of conversation states, or read alone when nothing else asks the database."""

    workspace_id: int
    cache: VersionedCache[int, StorageRules] | None = None
    versions: tuple[int, ...] = ()
    value: StorageRules | None = None

    def known(self) -> StorageRules | None:
        if self.value is None and self.cache is not None:
            self.value = self.cache.get(self.workspace_id, self.versions)
        return self.value

    def keep(self, rules: StorageRules) -> StorageRules:
        self.value = rules
        if self.cache is not None:
            self.cache.put(self.workspace_id, self.versions, rules)
        return rules

    async def get(self) -> StorageRules:
        known = self.known()
        if known is not None:
            return known
        return self.keep(await load_storage_rules(self.workspace_id))


class CrmMatchByIdentifierLoader(DataLoader[Identifier, Match]):
    def __init__(
        self,
        workspace_id: int,
        own_identifiers: Iterable[Identifier],
        cache: MatchCache | None = None,
        versions: tuple[int, ...] = (),
    ) -> None:
        super().__init__()
        self.workspace_id = workspace_id
        self.own_identifiers = tuple(own_identifiers)
        # Without a cache of the process, one of the request: nothing is served from it.
        self.kept = MatchCache(0) if cache is None else cache
        self.versions = versions

    async def batch_load_fn(self, keys: Sequence[Identifier]) -> list[Match]:
        matches = await resolve_cached(
            self.workspace_id,
            keys,
            own_identifiers=self.own_identifiers,
            cache=self.kept,
            versions=self.versions,
        )
        return [matches[key] for key in keys]


class ConversationStateByKeyLoader(DataLoader[ConversationKey, ConversationState]):
    """Stored copies and links, kept across requests under `versions`; the storage rules too, in
    the same query, while the request has not got them."""

    def __init__(
        self,
        workspace_id: int,
        rules: RequestRules | None = None,
        cache: StateCache | None = None,
        versions: tuple[int, ...] = (),
    ) -> None:
        super().__init__()
        self.workspace_id = workspace_id
        self.rules = RequestRules(workspace_id) if rules is None else rules
        # Without a cache of the process, one of the request: nothing is served from it.
        self.kept = StateCache(0) if cache is None else cache
        self.versions = versions

    async def batch_load_fn(self, keys: Sequence[ConversationKey]) -> list[ConversationState]:
        states = {
            key: state
            for key in keys
            if (state := self.kept.get((self.workspace_id, *key), self.versions)) is not None
        }
        missing = [key for key in keys if key not in states]
        if missing:
            read = await self._read(missing)
            for key, state in read.items():
                self.kept.put((self.workspace_id, *key), self.versions, state)
            states |= read
        return [states[key] for key in keys]

    async def _read(
        self, keys: Sequence[ConversationKey]
    ) -> dict[ConversationKey, ConversationState]:
        if self.rules.known() is not None:
            return await conversation_states(self.workspace_id, keys)
        states, rules = await states_and_rules(self.workspace_id, keys)
        self.rules.keep(rules)
        return states


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
    rules: RequestRules

    @classmethod
    def for_viewer(
        cls,
        scope: ViewerScope,
        unipile: UnipileClient,
        attendee_cache: AttendeeCache,
        caches: ReadCaches | None = None,
    ) -> Loaders:
        """With the process's `caches`, what was kept under the versions the scope read is
        served without a query."""
        workspace_id = scope.identity.workspace_id
        rules = RequestRules(
            workspace_id,
            None if caches is None else caches.rules,
            scope.versions(Kept.STORAGE_RULES),
        )
        return cls(
            crm_match_by_identifier=CrmMatchByIdentifierLoader(
                workspace_id,
                scope.own_identifiers(),
                None if caches is None else caches.matches,
                scope.versions(Kept.CRM_RECORDS),
            ),
            conversation_state_by_key=ConversationStateByKeyLoader(
                workspace_id,
                rules,
                None if caches is None else caches.states,
                # A link carries its contact's or company's name.
                scope.versions(Kept.STORED_CONVERSATIONS, Kept.CRM_RECORDS),
            ),
            attendees_by_chat=AttendeesByChatLoader(unipile, attendee_cache),
            contact_by_id=ContactByIdLoader(workspace_id),
            company_by_id=CompanyByIdLoader(workspace_id),
            user_by_id=UserByIdLoader(workspace_id),
            rules=rules,
        )
