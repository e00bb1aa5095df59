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

Filters UniPile supports are pushed down (chats: `unread`; email: `folder`); the others are
applied here by `accept`, on batches of merged conversations.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from core.vocabulary import Channel
from db.models import Account
from inbox.records import (
    ConversationRecord,
    conversation_from_chat,
    conversation_from_thread,
    is_upstream_of,
    thread_id_of,
)
from paging import LaneState, LaneStates, Ordering, Position
from unipile import Email, UnipileClient, UnipileError

MAX_UPSTREAM_LIMIT = 250
EMAIL_WINDOW = 200

Accept = Callable[[Sequence[ConversationRecord]], Awaitable[Sequence[bool]]]
ShownLookup = Callable[[str, Sequence[str]], Awaitable[Mapping[str, Ordering]]]


@dataclass(frozen=True, slots=True)
class PushedDown:
    """The filters UniPile applies itself."""

    unread: bool | None
    folder: str | None


@dataclass(frozen=True, slots=True)
class Row:
    position: Position
    conversation: ConversationRecord | None
    thread_id: str | None = None
    # An email thread's conversation is built only if the merge takes its row: a mailbox page
    # holds far more threads than the inbox page shows.
    thread: Sequence[Email] | None = None

    def conversation_of(self, account: Account) -> ConversationRecord | None:
        if self.conversation is None and self.thread is not None:
            return conversation_from_thread(account, self.thread)
        return self.conversation


@dataclass(frozen=True, slots=True)
class Page:
    rows: tuple[Row, ...]
    next_upstream: str | None


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
    return min(MAX_UPSTREAM_LIMIT, first + 1)


def _after(rows: Sequence[Row], after: Position | None) -> tuple[Row, ...]:
    if after is None:
        return tuple(rows)
    bound = after.ordering()
    return tuple(row for row in rows if row.position.ordering() < bound)


class Lane:
    """One account's live list, read page by page."""

    def __init__(self, account: Account, state: LaneState, shown: ShownLookup) -> None:
        self.account = account
        self.state = state
        self.lookup_shown = shown
        self.rows: deque[Row] = deque()
        self.next_upstream: str | None = None
        self.failure: UnipileError | None = None
        self.shown: dict[str, Ordering] = {}

    @property
    def key(self) -> str:
        return self.account.unipile_id

    @property
    def needs_page(self) -> bool:
        return not self.state.exhausted and self.failure is None and not self.rows

    @property
    def head(self) -> Row | None:
        return self.rows[0] if self.rows and self.failure is None else None

    def head_ordering(self) -> Ordering:
        return self.rows[0].position.ordering()

    async def load(self, client: UnipileClient, pushed: PushedDown, first: int) -> None:
        try:
            if self.account.channel is Channel.EMAIL:
                page = await self._email_page(client, pushed)
            else:
                page = await self._chat_page(client, pushed, first)
        except UnipileError as error:
            self.failure = error
            return
        self.rows = deque(page.rows)
        self.next_upstream = page.next_upstream
        if not self.rows:
            self._turn_page()

    async def _chat_page(self, client: UnipileClient, pushed: PushedDown, first: int) -> Page:
        upstream = self.state.upstream
        page = await client.list_chats(
            account_id=self.account.unipile_id,
            unread=pushed.unread or None,
            limit=None if upstream else chat_limit(first),
            cursor=upstream,
        )
        rows = [
            Row(Position(chat.timestamp, chat.id), conversation_from_chat(self.account, chat))
            for chat in page.items
            if is_upstream_of(self.account, chat.account_id)
        ]
        return Page(rows=_after(rows, self.state.after), next_upstream=page.cursor)

    async def _email_page(self, client: UnipileClient, pushed: PushedDown) -> Page:
        upstream = self.state.upstream
        page = await client.list_emails(
            account_id=self.account.unipile_id,
            folder=pushed.folder,
            meta_only=True,
            limit=None if upstream else EMAIL_WINDOW,
            cursor=upstream,
        )
        bound = None if self.state.after is None else self.state.after.ordering()
        emails = [
            email
            for email in page.items
            if is_upstream_of(self.account, email.account_id)
            and (bound is None or Position(email.date, email.id).ordering() < bound)
        ]
        rows = await self._thread_rows(emails, bound)
        return Page(rows=tuple(rows), next_upstream=page.cursor)

    async def _thread_rows(self, emails: list[Email], bound: Ordering | None) -> list[Row]:
        """One row per email; a thread's conversation rides on its newest email, unless this
        walk already showed the thread above the lane's position."""
        by_thread: dict[str, list[Email]] = {}
        for email in emails:
            by_thread.setdefault(thread_id_of(email), []).append(email)
        earlier = await self.lookup_shown(self.key, list(by_thread)) if bound else {}
        rows = []
        started: set[str] = set()
        for email in emails:
            thread_id = thread_id_of(email)
            position = Position(email.date, email.id)
            if thread_id in started or self._shown_above(thread_id, earlier, bound):
                rows.append(Row(position, None))
                continue
            started.add(thread_id)
            rows.append(Row(position, None, thread_id=thread_id, thread=by_thread[thread_id]))
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

    def take(self) -> Row:
        row = self.rows.popleft()
        self.state = replace(self.state, after=row.position)
        if row.thread_id is not None:
            self.shown[row.thread_id] = row.position.ordering()
        if not self.rows:
            self._turn_page()
        return row

    def _turn_page(self) -> None:
        if self.next_upstream is None:
            self.state = replace(self.state, exhausted=True)
        else:
            self.state = replace(self.state, upstream=self.next_upstream)
        self.next_upstream = None


class InboxMerge:
    def __init__(
        self,
        client: UnipileClient,
        accounts: Sequence[Account],
        states: Mapping[str, LaneState],
        shown: ShownLookup,
        pushed: PushedDown,
        first: int,
    ) -> None:
        self.client = client
        self.pushed = pushed
        self.first = first
        self.lanes = [
            Lane(account, states.get(account.unipile_id, LaneState()), shown)
            for account in accounts
        ]

    def snapshot(self) -> LaneStates:
        return {lane.key: lane.state for lane in self.lanes}

    async def _fill(self) -> None:
        """Fetch, concurrently, the next page of every lane that has run dry."""
        await asyncio.gather(
            *(
                lane.load(self.client, self.pushed, self.first)
                for lane in self.lanes
                if lane.needs_page
            )
        )

    async def next_conversation(self) -> ConversationRecord | None:
        while True:
            await self._fill()
            ready = [lane for lane in self.lanes if lane.head is not None]
            if not ready:
                return None
            lane = max(ready, key=Lane.head_ordering)
            row = lane.take()
            conversation = row.conversation_of(lane.account)
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
    client: UnipileClient,
    accounts: Sequence[Account],
    states: Mapping[str, LaneState],
    shown: ShownLookup,
    pushed: PushedDown,
    first: int,
    accept: Accept | None,
) -> InboxPage:
    """Up to `first` conversations after the lanes' `states`, newest activity first."""
    merge = InboxMerge(client, accounts, states, shown, pushed, first)
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
