"""Keeping the live cache current: invalidating an account's lists when they change upstream, and
pre-fetching the first inbox page of the accounts of connected users.

A user is connected while they hold a subscription open. Their accounts' first page is read into
the cache (with its group chats' members) when they connect and again after each change, before
they ask, so opening or refreshing
the inbox costs no upstream call. Changes are announced on `live_lists_topic`, so that every
process refreshes the accounts its own subscribers watch.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress

from db.models import Account
from inbox.live_cache import LiveCache
from inbox.loaders import AttendeeCache, AttendeesByChatLoader
from inbox.merge import warm_first_page
from realtime.pubsub import PubSub, SubscriberDropped
from realtime.receipts import Publication
from realtime.topics import live_lists_topic

log = logging.getLogger(__name__)

PREFETCH_FIRST = 50


async def live_lists_changed(cache: LiveCache, account: Account) -> Publication:
    """Invalidate the account's cached lists; what announces it to every process's pre-fetching."""
    await cache.invalidate([account.unipile_id])
    return Publication(live_lists_topic(), {"type": "live_lists", "unipile_id": account.unipile_id})


class Prefetcher:
    """Reads the first inbox page of watched accounts into the live cache."""

    def __init__(
        self,
        cache: LiveCache,
        attendees: AttendeeCache,
        pubsub: PubSub,
        first: int = PREFETCH_FIRST,
    ) -> None:
        self.cache = cache
        self.attendees = attendees
        self.pubsub = pubsub
        self.first = first
        self._watchers: Counter[str] = Counter()
        self._accounts: dict[str, Account] = {}
        self._refreshing: dict[str, asyncio.Task[None]] = {}
        self._listener: asyncio.Task[None] | None = None

    async def start(self) -> None:
        ready = asyncio.Event()
        self._listener = asyncio.create_task(self._listen(ready))
        await ready.wait()

    async def aclose(self) -> None:
        tasks = [*self._refreshing.values(), *([self._listener] if self._listener else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task

    @contextmanager
    def watching(self, accounts: Iterable[Account]) -> Iterator[None]:
        """While the block runs, keep these accounts' first page in the cache."""
        watched = list(accounts)
        for account in watched:
            self._accounts[account.unipile_id] = account
            self._watchers[account.unipile_id] += 1
            if self._watchers[account.unipile_id] == 1:
                self.refresh(account.unipile_id)
        try:
            yield
        finally:
            for account in watched:
                self._watchers[account.unipile_id] -= 1
                if self._watchers[account.unipile_id] <= 0:
                    del self._watchers[account.unipile_id]
                    self._accounts.pop(account.unipile_id, None)

    def refresh(self, unipile_id: str) -> None:
        """Read the account's first page again, in the background, if anyone watches it."""
        account = self._accounts.get(unipile_id)
        if account is None or unipile_id in self._refreshing:
            return
        task = asyncio.create_task(self._warm(account))
        self._refreshing[unipile_id] = task
        task.add_done_callback(lambda done: self._landed(unipile_id, done))

    def _landed(self, unipile_id: str, task: asyncio.Task[None]) -> None:
        self._refreshing.pop(unipile_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.warning("pre-fetching %s failed", unipile_id, exc_info=task.exception())

    async def settled(self) -> None:
        """Wait for the refreshes under way (for tests and an orderly stop)."""
        while self._refreshing:
            await asyncio.gather(*self._refreshing.values(), return_exceptions=True)

    async def _warm(self, account: Account) -> None:
        groups = await warm_first_page(self.cache, account, self.first)
        members = AttendeesByChatLoader(self.cache.client, self.attendees)
        await members.load_many([(account.unipile_id, chat_id) for chat_id in groups])

    async def _listen(self, ready: asyncio.Event) -> None:
        while True:
            # A listener that fell behind was dropped: it listens again (a missed change only
            # costs a cache miss later).
            with suppress(SubscriberDropped):
                async with self.pubsub.subscribe(live_lists_topic()) as changes:
                    ready.set()
                    async for change in changes:
                        self.refresh(str(change.get("unipile_id", "")))
