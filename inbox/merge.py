"""One inbox over many accounts: UniPile's per-account live lists merged into one order.

Each account is a lane that reads its UniPile list page by page. The merge takes, again and
again, the newest pending row of all lanes, so the result is newest activity first across
accounts. A lane whose page is used up fetches its next page before the merge goes on, so the
order is exact. After every conversation the merge records each lane's state, so that a cursor
can resume right after any edge: nothing is dropped or repeated.

Email lanes read fixed windows of `EMAIL_WINDOW` emails, whatever the page size, so a thread's
facts (built from its emails in the window where it is first met) never depend on `first`. A
thread is shown at its newest email; its older emails further down are skipped, because the
walk remembers where it showed each thread (`paging.Pager.shown`).

Lanes read through the live cache (`inbox.live_cache`). An account whose list fails is not dropped:
its lane shows the last good copy of the page (STALE) or, without one, its stored copies in the
same order (STORED), next to the error that names the account.

Filters UniPile supports are pushed down (chats: `unread`; email: `folder`); the others are
applied here by `accept`, on batches of merged conversations.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from core.vocabulary import Channel, ConversationSource
from db.models import Account
from inbox.live_cache import Listing, LiveCache
from inbox.records import (
    ConversationRecord,
    conversation_from_chat,
    conversation_from_thread,
    is_upstream_of,
)
from paging import LaneState, LaneStates, Ordering, Position
from unipile import ChatHead, EmailHead, UnipileError

MAX_UPSTREAM_LIMIT = 250
EMAIL_WINDOW = 200
CHAT_WINDOW = 50

Accept = Callable[[Sequence[ConversationRecord]], Awaitable[Sequence[bool]]]
ShownLookup = Callable[[str, Sequence[str]], Awaitable[Mapping[str, Ordering]]]


@dataclass(frozen=True, slots=True)
class PushedDown:
    """The filters UniPile applies itself."""

    unread: bool | None
    folder: str | None


StoredRows = Callable[
    [Account, LaneState, PushedDown, int], Awaitable[Sequence[ConversationRecord]]
]


@dataclass(frozen=True, slots=True)
class LaneSources:
    """Where the lanes read: the live cache; the stored copies, newest first after a lane's
    position, for an account whose live list failed with no copy at hand; and where this walk
    showed email threads on its earlier pages."""

    cache: LiveCache
    stored: StoredRows
    shown: ShownLookup


class Row:
    """One row of a lane, at its position. A plain slotted class, not a frozen dataclass: a page
    makes one per email and chat listed (about 500), and rows are never changed once made.

    An email thread's conversation is built, and its emails parsed whole, only if the merge
    takes its row: a mailbox page holds far more threads than the inbox page shows. Rows of a
    thread's older emails have none. Likewise, a chat is parsed whole only if the merge takes it.
    """

    __slots__ = ("chat", "position", "stored", "thread", "thread_id")

    def __init__(
        self,
        position: Position,
        thread_id: str | None = None,
        thread: Sequence[EmailHead] | None = None,
        chat: ChatHead | None = None,
        stored: ConversationRecord | None = None,
    ) -> None:
        self.position = position
        self.thread_id = thread_id
        self.thread = thread
        self.chat = chat
        self.stored = stored

    def conversation_of(
        self, account: Account, source: ConversationSource, fetched_at: datetime | None
    ) -> ConversationRecord | None:
        if self.chat is not None:
            return conversation_from_chat(account, self.chat.chat(), source, fetched_at)
        if self.thread is not None:
            emails = [head.email() for head in self.thread]
            return conversation_from_thread(account, emails, source, fetched_at)
        return self.stored


@dataclass(frozen=True, slots=True)
class Page:
    rows: tuple[Row, ...]
    next_upstream: str | None
    source: ConversationSource = ConversationSource.LIVE
    fetched_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LaneFailure:
    account: Account
    error: UnipileError


@dataclass(frozen=True, slots=True)
class InboxPage:
    # Each conversation with every lane's state right after it.
    edges: tuple[tuple[ConversationRecord, LaneStates], ...]
    has_next_page: bool
    failures: tuple[LaneFailure, ...]
    # Per lane, where this page showed each email thread it showed.
    shown: dict[str, dict[str, Ordering]] = field(default_factory=dict)


def chat_limit(first: int) -> int:
    """Chats asked for a first page: pages of up to `CHAT_WINDOW` share one cached list."""
    return min(MAX_UPSTREAM_LIMIT, max(first, CHAT_WINDOW) + 1)


def _after(rows: Sequence[Row], after: Position | None) -> tuple[Row, ...]:
    if after is None:
        return tuple(rows)
    bound = after.ordering()
    return tuple(row for row in rows if row.position.ordering() < bound)


def stored_row(record: ConversationRecord) -> Row:
    """A stored conversation as a lane's row, at its last activity; an email thread's row marks
    the thread shown, like a live one."""
    thread_id = record.external_id if record.channel is Channel.EMAIL else None
    return Row(Position(record.last_message_at, record.external_id), thread_id, stored=record)


class Lane:
    """One account's live list, read page by page. A lane whose list fails reads nothing more in
    this walk: it shows the last good copy of the page, or else the stored copies after its
    position, and keeps its upstream place so that the next page reads live again from there."""

    def __init__(self, account: Account, state: LaneState, sources: LaneSources) -> None:
        self.account = account
        self.state = state
        self.sources = sources
        self.rows: deque[Row] = deque()
        self.next_upstream: str | None = None
        self.source = ConversationSource.LIVE
        self.fetched_at: datetime | None = None
        self.failure: UnipileError | None = None
        self.shown: dict[str, Ordering] = {}
        # The merge compares every lane's head at every step: each head's ordering is computed once.
        self._head_ordering: Ordering | None = None

    @property
    def key(self) -> str:
        return self.account.unipile_id

    @property
    def needs_page(self) -> bool:
        return not self.state.exhausted and self.failure is None and not self.rows

    @property
    def head(self) -> Row | None:
        return self.rows[0] if self.rows else None

    def head_ordering(self) -> Ordering:
        if self._head_ordering is None:
            self._head_ordering = self.rows[0].position.ordering()
        return self._head_ordering

    async def load(self, pushed: PushedDown, first: int) -> None:
        try:
            if self.account.channel is Channel.EMAIL:
                page = await self._email_page(pushed)
            else:
                page = await self._chat_page(pushed, first)
        except UnipileError as error:
            self.failure = error
            page = await self._stored_page(pushed, first)
        self.rows = deque(page.rows)
        self._head_ordering = None
        self.next_upstream = page.next_upstream
        self.source, self.fetched_at = page.source, page.fetched_at
        if not self.rows:
            self._turn_page()

    def _listed(self, listing: Listing[Any]) -> tuple[ConversationSource, datetime]:
        if listing.error is None:
            return ConversationSource.LIVE, listing.fetched_at
        self.failure = listing.error
        return ConversationSource.STALE, listing.fetched_at

    async def _chat_page(self, pushed: PushedDown, first: int) -> Page:
        upstream = self.state.upstream
        cache = self.sources.cache
        call = cache.client.chat_heads_call(
            account_id=self.account.unipile_id,
            unread=pushed.unread or None,
            limit=None if upstream else chat_limit(first),
            cursor=upstream,
        )
        listing = await cache.read(self.account.unipile_id, call)
        rows = [
            Row(Position(chat.timestamp, chat.id), chat=chat)
            for chat in listing.page.items
            if is_upstream_of(self.account, chat.account_id)
        ]
        source, fetched_at = self._listed(listing)
        return Page(_after(rows, self.state.after), listing.page.cursor, source, fetched_at)

    async def _email_page(self, pushed: PushedDown) -> Page:
        upstream = self.state.upstream
        cache = self.sources.cache
        call = cache.client.email_heads_call(
            account_id=self.account.unipile_id,
            folder=pushed.folder,
            meta_only=True,
            limit=None if upstream else EMAIL_WINDOW,
            cursor=upstream,
        )
        listing = await cache.read(self.account.unipile_id, call)
        bound = None if self.state.after is None else self.state.after.ordering()
        emails = [
            email
            for email in listing.page.items
            if is_upstream_of(self.account, email.account_id)
            and (bound is None or Position(email.date, email.id).ordering() < bound)
        ]
        rows = await self._thread_rows(emails, bound)
        source, fetched_at = self._listed(listing)
        return Page(tuple(rows), listing.page.cursor, source, fetched_at)

    async def _stored_page(self, pushed: PushedDown, first: int) -> Page:
        records = await self.sources.stored(self.account, self.state, pushed, first)
        return Page(tuple(map(stored_row, records)), None, ConversationSource.STORED)

    async def _thread_rows(self, emails: list[EmailHead], bound: Ordering | None) -> list[Row]:
        """One row per email; a thread's conversation rides on its newest email, unless this
        walk already showed the thread above the lane's position."""
        by_thread: dict[str, list[EmailHead]] = {}
        for email in emails:
            by_thread.setdefault(email.thread, []).append(email)
        earlier = await self.sources.shown(self.key, list(by_thread)) if bound else {}
        rows = []
        # A thread leaves `unstarted` at its newest email, which carries its conversation.
        unstarted = by_thread
        for email in emails:
            thread_id = email.thread
            position = Position(email.date, email.id)
            thread = unstarted.pop(thread_id, None)
            if thread is None or self._shown_above(thread_id, earlier, bound):
                rows.append(Row(position))
            else:
                rows.append(Row(position, thread_id, thread=thread))
        return rows

    def _shown_above(
        self, thread_id: str, earlier: Mapping[str, Ordering], bound: Ordering | None
    ) -> bool:
        """Whether this walk showed the thread at or above the lane's position: on this page, or
        on an earlier one (where a replayed cursor showed it further down does not count)."""
        if thread_id in self.shown:
            return True
        seen = earlier.get(thread_id)
        return seen is not None and bound is not None and seen >= bound

    def take(self) -> ConversationRecord | None:
        """The head row's conversation (None for a thread's older email), the lane past it."""
        row = self.rows.popleft()
        self._head_ordering = None
        self.state = replace(self.state, after=row.position)
        if row.thread_id is not None:
            self.shown[row.thread_id] = row.position.ordering()
        conversation = row.conversation_of(self.account, self.source, self.fetched_at)
        if not self.rows:
            self._turn_page()
        return conversation

    def _turn_page(self) -> None:
        # Stored copies are no page of the upstream list: the lane keeps its upstream place.
        if self.source is ConversationSource.STORED:
            return
        if self.next_upstream is None:
            self.state = replace(self.state, exhausted=True)
        else:
            self.state = replace(self.state, upstream=self.next_upstream)
        self.next_upstream = None


class InboxMerge:
    def __init__(
        self,
        sources: LaneSources,
        accounts: Sequence[Account],
        states: Mapping[str, LaneState],
        pushed: PushedDown,
        first: int,
    ) -> None:
        self.pushed = pushed
        self.first = first
        self.lanes = [
            Lane(account, states.get(account.unipile_id, LaneState()), sources)
            for account in accounts
        ]

    def snapshot(self) -> LaneStates:
        return {lane.key: lane.state for lane in self.lanes}

    async def _fill(self) -> None:
        """Fetch, concurrently, the next page of every lane that has run dry."""
        # Asked before each conversation taken, and mostly with every lane still holding rows.
        dry = [lane for lane in self.lanes if lane.needs_page]
        if dry:
            await asyncio.gather(*(lane.load(self.pushed, self.first) for lane in dry))

    async def next_conversation(self) -> ConversationRecord | None:
        while True:
            await self._fill()
            ready = [lane for lane in self.lanes if lane.head is not None]
            if not ready:
                return None
            conversation = max(ready, key=Lane.head_ordering).take()
            if conversation is not None:
                return conversation

    def failures(self) -> tuple[LaneFailure, ...]:
        return tuple(
            LaneFailure(lane.account, lane.failure)
            for lane in self.lanes
            if lane.failure is not None
        )

    def shown(self) -> dict[str, dict[str, Ordering]]:
        return {lane.key: lane.shown for lane in self.lanes if lane.shown}


def has_more(states: LaneStates) -> bool:
    return any(not state.exhausted for state in states.values())


async def read_inbox(
    sources: LaneSources,
    accounts: Sequence[Account],
    states: Mapping[str, LaneState],
    pushed: PushedDown,
    first: int,
    accept: Accept | None,
) -> InboxPage:
    """Up to `first` conversations after the lanes' `states`, newest activity first."""
    merge = InboxMerge(sources, accounts, states, pushed, first)
    taken: list[tuple[ConversationRecord, LaneStates]] = []
    drained = False
    while len(taken) < first and not drained:
        batch: list[tuple[ConversationRecord, LaneStates]] = []
        while len(taken) + len(batch) < first:
            conversation = await merge.next_conversation()
            if conversation is None:
                drained = True
                break
            batch.append((conversation, merge.snapshot()))
        verdicts = await accept([c for c, _ in batch]) if accept and batch else [True] * len(batch)
        taken.extend(item for item, keep in zip(batch, verdicts, strict=True) if keep)
    # A page resumes after its last edge; without one it made no progress a cursor could hold.
    # Once drained, only a lane that failed may hold more.
    failures = merge.failures()
    has_next_page = bool(taken) and has_more(taken[-1][1]) and (not drained or bool(failures))
    return InboxPage(
        edges=tuple(taken),
        has_next_page=has_next_page,
        failures=failures,
        shown=merge.shown(),
    )


async def _nothing_stored(
    account: Account, state: LaneState, pushed: PushedDown, first: int
) -> Sequence[ConversationRecord]:
    return ()


async def nothing_shown(lane: str, threads: Sequence[str]) -> Mapping[str, Ordering]:
    """For a walk read from the top: no earlier page showed any thread."""
    return {}


async def warm_first_page(cache: LiveCache, account: Account, first: int) -> list[str]:
    """Read the account's first unfiltered inbox page into the cache, as the inbox asks for it;
    the ids of its group chats, whose members a page reads separately."""
    lane = Lane(account, LaneState(), LaneSources(cache, _nothing_stored, nothing_shown))
    await lane.load(PushedDown(unread=None, folder=None), first)
    return [row.chat.id for row in lane.rows if row.chat is not None and row.chat.chat().is_group]
