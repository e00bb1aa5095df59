"""Dataloaders, built per request (and per subscription event) inside the running loop."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiodataloader import DataLoader
from tortoise.connection import get_connection

from crm import Identifier, Match, resolve
from db.models import Company, Contact, ContactIdentifier, User
from db.sql import placeholders
from inbox.state import ConversationKey, ConversationState, conversation_states
from resolvers.crm import CompanyRecord, ContactRecord
from unipile import ChatAttendee, UnipileClient, UnipileError

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


# Contacts with their identifiers, companies and those companies' domains, in one query: one
# column layout for the four kinds of row.
_CONTACTS_SQL = """
SELECT 'P' AS row_kind, c.id, c.company_id AS owner_id, c.first_name AS text1,
       c.last_name AS text2, NULL AS text3, c.external_id AS text4, c.created_at AS at1,
       c.updated_at AS at2
FROM contact c WHERE c.workspace_id = {} AND c.id IN ({})
UNION ALL
SELECT 'I', i.id, i.contact_id, i.kind, i.value, i.original, NULL, NULL, NULL
FROM contact_identifier i WHERE i.workspace_id = {} AND i.contact_id IN ({})
UNION ALL
SELECT 'K', co.id, NULL, co.name, NULL, NULL, co.external_id, co.created_at, co.updated_at
FROM company co WHERE co.workspace_id = {}
  AND co.id IN (SELECT company_id FROM contact WHERE workspace_id = {} AND id IN ({}))
UNION ALL
SELECT 'D', d.id, d.company_id, d.domain, NULL, NULL, NULL, NULL, NULL
FROM company_domain d WHERE d.workspace_id = {}
  AND d.company_id IN (SELECT company_id FROM contact WHERE workspace_id = {} AND id IN ({}))
"""
_COMPANIES_SQL = """
SELECT 'K' AS row_kind, co.id, NULL AS owner_id, co.name AS text1, co.external_id AS text4,
       co.created_at AS at1, co.updated_at AS at2
FROM company co WHERE co.workspace_id = {} AND co.id IN ({})
UNION ALL
SELECT 'D', d.id, d.company_id, d.domain, NULL, NULL, NULL
FROM company_domain d WHERE d.workspace_id = {} AND d.company_id IN ({})
"""


def _bind(sql: str, markers: str, workspace_id: int, keys: Sequence[int]) -> tuple[str, list[Any]]:
    """`sql` with its `{}` markers bound in order: `w` the workspace id, `i` the list of keys."""
    bound: list[str] = []
    values: list[Any] = []
    for marker in markers:
        count = len(keys) if marker == "i" else 1
        bound.append(", ".join(placeholders(len(values) + 1, count)))
        values.extend(keys if marker == "i" else [workspace_id])
    return sql.format(*bound), values


def _companies_from_rows(
    rows: Iterable[dict[str, Any]], workspace_id: int
) -> dict[int, CompanyRecord]:
    companies: dict[int, Company] = {}
    domains: defaultdict[int, list[tuple[int, str]]] = defaultdict(list)
    for row in rows:
        if row["row_kind"] == "K":
            companies[row["id"]] = Company._init_from_db(
                id=row["id"],
                workspace_id=workspace_id,
                name=row["text1"],
                external_id=row["text4"],
                created_at=row["at1"],
                updated_at=row["at2"],
            )
        elif row["row_kind"] == "D":
            domains[row["owner_id"]].append((row["id"], row["text1"]))
    return {
        pk: CompanyRecord(company, tuple(domain for _, domain in sorted(domains[pk])))
        for pk, company in companies.items()
    }


class ContactRecordLoader(DataLoader[int, ContactRecord | None]):
    """Contacts of one workspace by primary key, with their identifiers and company, in one query
    per batch; another workspace's ids load as None."""

    def __init__(self, workspace_id: int) -> None:
        super().__init__()
        self.workspace_id = workspace_id

    async def batch_load_fn(self, keys: Sequence[int]) -> list[ContactRecord | None]:
        sql, values = _bind(_CONTACTS_SQL, "wiwiwwiwwi", self.workspace_id, keys)
        rows = await get_connection("default").execute_query_dict(sql, values)
        companies = _companies_from_rows(rows, self.workspace_id)
        contacts: dict[int, Contact] = {}
        identifiers: defaultdict[int, list[ContactIdentifier]] = defaultdict(list)
        for row in rows:
            if row["row_kind"] == "P":
                contacts[row["id"]] = Contact._init_from_db(
                    id=row["id"],
                    workspace_id=self.workspace_id,
                    first_name=row["text1"],
                    last_name=row["text2"],
                    company_id=row["owner_id"],
                    external_id=row["text4"],
                    created_at=row["at1"],
                    updated_at=row["at2"],
                )
            elif row["row_kind"] == "I":
                identifiers[row["owner_id"]].append(
                    ContactIdentifier._init_from_db(
                        id=row["id"],
                        workspace_id=self.workspace_id,
                        contact_id=row["owner_id"],
                        kind=row["text1"],
                        value=row["text2"],
                        original=row["text3"],
                    )
                )
        records = {
            pk: ContactRecord(
                contact=contact,
                identifiers=tuple(sorted(identifiers[pk], key=lambda i: i.id)),
                company=None if contact.company_id is None else companies.get(contact.company_id),
            )
            for pk, contact in contacts.items()
        }
        return [records.get(key) for key in keys]


class CompanyRecordLoader(DataLoader[int, CompanyRecord | None]):
    """Companies of one workspace by primary key, with their domains, in one query per batch;
    another workspace's ids load as None."""

    def __init__(self, workspace_id: int) -> None:
        super().__init__()
        self.workspace_id = workspace_id

    async def batch_load_fn(self, keys: Sequence[int]) -> list[CompanyRecord | None]:
        sql, values = _bind(_COMPANIES_SQL, "wiwi", self.workspace_id, keys)
        rows = await get_connection("default").execute_query_dict(sql, values)
        records = _companies_from_rows(rows, self.workspace_id)
        return [records.get(key) for key in keys]


class UserLoader(DataLoader[int, User | None]):
    """Users of one workspace by primary key, in one query per batch; others load as None."""

    def __init__(self, workspace_id: int) -> None:
        super().__init__()
        self.workspace_id = workspace_id

    async def batch_load_fn(self, keys: Sequence[int]) -> list[User | None]:
        users = await User.filter(workspace_id=self.workspace_id, id__in=list(keys))
        by_id = {user.id: user for user in users}
        return [by_id.get(key) for key in keys]


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
    contact_by_id: ContactRecordLoader
    company_by_id: CompanyRecordLoader
    user_by_id: UserLoader
