"""One inbox over many accounts: UniPile's per-account live lists merged into one order.

Each account is a lane that reads its UniPile list page by page. The merge takes, again and
again, the newest pending row of all lanes, so the result is newest activity first across
accounts. A lane whose page is used up fetches its next page before the merge goes on, so the
order is exact. The cursor records, for every lane, exactly how far the merge went, so the next
page resumes right after the last conversation returned: nothing is dropped or repeated.

Filters UniPile supports are pushed down (chats: `unread`; email: `folder`); the others are
applied here by `accept`, on batches of merged conversations.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from db.models import Account
from db.vocabulary import Channel
from resolvers.inbox_cursor import AccountCursor, InboxCursor, Position
from resolvers.live import (
    ConversationRecord,
    conversation_from_chat,
    conversation_from_thread,
    thread_id_of,
)
from unipile import Email, UnipileClient, UnipileError

MAX_UPSTREAM_LIMIT = 250
EMAILS_PER_THREAD_ESTIMATE = 4

Accept = Callable[[Sequence[ConversationRecord]], Awaitable[Sequence[bool]]]


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
    # Each conversation with the cursor that resumes right after it.
    edges: tuple[tuple[ConversationRecord, InboxCursor], ...]
    cursor: InboxCursor
    has_next_page: bool
    failures: tuple[LaneFailure, ...]


def chat_limit(first: int) -> int:
    return min(MAX_UPSTREAM_LIMIT, first + 1)


def email_limit(first: int) -> int:
    return min(MAX_UPSTREAM_LIMIT, (first + 1) * EMAILS_PER_THREAD_ESTIMATE)


async def fetch_chat_page(
    client: UnipileClient, account: Account, state: AccountCursor, pushed: PushedDown, first: int
) -> Page:
    page = await client.list_chats(
        account_id=account.unipile_id,
        unread=pushed.unread or None,
        limit=None if state.upstream else chat_limit(first),
        cursor=state.upstream,
    )
    rows = tuple(
        Row(Position(chat.timestamp, chat.id), conversation_from_chat(account, chat))
        for chat in page.items
    )
    return Page(rows=_after(rows, state.after), next_upstream=page.cursor)


async def fetch_email_page(
    client: UnipileClient, account: Account, state: AccountCursor, pushed: PushedDown, first: int
) -> Page:
    page = await client.list_emails(
        account_id=account.unipile_id,
        folder=pushed.folder,
        meta_only=True,
        limit=None if state.upstream else email_limit(first),
        cursor=state.upstream,
    )
    if state.after is None:
        emails = list(page.items)
    else:
        bound = state.after.ordering()
        emails = [
            email for email in page.items if Position(email.date, email.id).ordering() < bound
        ]
    return Page(rows=tuple(_thread_rows(account, emails, state)), next_upstream=page.cursor)


def _thread_rows(account: Account, emails: list[Email], state: AccountCursor) -> list[Row]:
    """One row per email; a thread's conversation rides on its newest email not yet shown."""
    by_thread: dict[str, list[Email]] = {}
    for email in emails:
        by_thread.setdefault(thread_id_of(email), []).append(email)
    rows = []
    started: set[str] = set()
    for email in emails:
        thread_id = thread_id_of(email)
        position = Position(email.date, email.id)
        if thread_id in started or state.has_seen(thread_id):
            rows.append(Row(position, None))
            continue
        started.add(thread_id)
        rows.append(Row(position, None, thread_id=thread_id, thread=by_thread[thread_id]))
    return rows


def _after(rows: tuple[Row, ...], after: Position | None) -> tuple[Row, ...]:
    if after is None:
        return rows
    bound = after.ordering()
    return tuple(row for row in rows if row.position.ordering() < bound)


class Lane:
    """One account's live list, read page by page."""

    def __init__(self, account: Account, state: AccountCursor) -> None:
        self.account = account
        self.state = state
        self.rows: deque[Row] = deque()
        self.next_upstream: str | None = None
        self.failure: UnipileError | None = None

    @property
    def needs_page(self) -> bool:
        return not self.state.exhausted and self.failure is None and not self.rows

    @property
    def head(self) -> Row | None:
        return self.rows[0] if self.rows and self.failure is None else None

    def head_ordering(self) -> tuple[str, str]:
        return self.rows[0].position.ordering()

    async def load(self, client: UnipileClient, pushed: PushedDown, first: int) -> None:
        fetch = fetch_email_page if self.account.channel is Channel.EMAIL else fetch_chat_page
        try:
            page = await fetch(client, self.account, self.state, pushed, first)
        except UnipileError as error:
            self.failure = error
            return
        self.rows = deque(page.rows)
        self.next_upstream = page.next_upstream
        if not self.rows:
            self._turn_page()

    def take(self) -> Row:
        row = self.rows.popleft()
        state = replace(self.state, after=row.position)
        if row.thread_id is not None:
            state = state.seeing([row.thread_id])
        self.state = state
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
        cursor: InboxCursor,
        pushed: PushedDown,
        first: int,
    ) -> None:
        self.client = client
        self.pushed = pushed
        self.first = first
        self.filter_key = cursor.filter_key
        self.lanes = [
            Lane(account, cursor.accounts.get(account.unipile_id, AccountCursor()))
            for account in accounts
        ]

    def snapshot(self) -> InboxCursor:
        return InboxCursor(
            self.filter_key, {lane.account.unipile_id: lane.state for lane in self.lanes}
        )

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

    @staticmethod
    def has_more(cursor: InboxCursor) -> bool:
        return any(not state.exhausted for state in cursor.accounts.values())

    def failures(self) -> tuple[LaneFailure, ...]:
        return tuple(
            LaneFailure(lane.account, lane.failure)
            for lane in self.lanes
            if lane.failure is not None
        )


async def read_inbox(
    client: UnipileClient,
    accounts: Sequence[Account],
    cursor: InboxCursor,
    pushed: PushedDown,
    first: int,
    accept: Accept | None,
) -> InboxPage:
    """Up to `first` conversations after `cursor`, newest activity first."""
    merge = InboxMerge(client, accounts, cursor, pushed, first)
    taken: list[tuple[ConversationRecord, InboxCursor]] = []
    drained = False
    while len(taken) < first and not drained:
        batch: list[tuple[ConversationRecord, InboxCursor]] = []
        while len(taken) + len(batch) < first:
            conversation = await merge.next_conversation()
            if conversation is None:
                drained = True
                break
            batch.append((conversation, merge.snapshot()))
        verdicts = await accept([c for c, _ in batch]) if accept and batch else [True] * len(batch)
        taken.extend(item for item, keep in zip(batch, verdicts, strict=True) if keep)
    # A full page resumes right after its last conversation; a short one consumed everything.
    final = taken[-1][1] if len(taken) == first else merge.snapshot()
    return InboxPage(
        edges=tuple(taken),
        cursor=final,
        has_next_page=merge.has_more(final),
        failures=merge.failures(),
    )
