"""Automatic storage, kept off the request path.

An inbox read that sees a conversation to store automatically only schedules it here; a
background task writes the durable job (`storing.jobs.enqueue_store`, one upsert) after the
response, and wakes the worker. Every read of the page sees the conversation again until it is
stored, so a conversation scheduled once is not scheduled again while its job is pending: until
this process's worker has run it, or for `DEDUPE_SECONDS` (the job may run in another process).
Webhook processing, already in the background, enqueues directly: a new message must re-arm a job
that is running.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from contextlib import suppress
from typing import NamedTuple

from access.scope import load_viewer_scope
from core.identity import Identity
from core.request_ids import current_request_id, request_id_scope
from core.vocabulary import StorageReason
from crm.storage import StorageDecision
from db.models import Account
from inbox.facts import load_facts
from inbox.loaders import AttendeeCache
from inbox.reading import Reading
from inbox.records import ConversationRecord, MessageRecord
from storing.copies import append_message
from storing.jobs import StoreWorker, enqueue_store
from unipile import UnipileClient

log = logging.getLogger(__name__)

BACKLOG = 10_000
DEDUPE_SECONDS = 300.0


class StoreRequest(NamedTuple):
    """A conversation to queue, with the rule that decided to store it (its limits are what the
    job keeps) and the id of the request that asked (its job runs under it)."""

    account_id: int
    external_id: str
    reason: StorageReason
    rule_id: str | None
    request_id: str | None


StoreKey = tuple[int, str]


def rule_id_of(decision: StorageDecision) -> str | None:
    """The id of the rule that decided, which its job carries."""
    return None if decision.rule is None else decision.rule.id


class AutoStore:
    def __init__(
        self, worker: StoreWorker, backlog: int = BACKLOG, dedupe_seconds: float = DEDUPE_SECONDS
    ) -> None:
        self.worker = worker
        self.dedupe_seconds = dedupe_seconds
        self._requests: asyncio.Queue[StoreRequest] = asyncio.Queue(backlog)
        self._backlog = backlog
        # Conversations scheduled and not known to be done, oldest first, with when they expire.
        self._pending: OrderedDict[StoreKey, float] = OrderedDict()
        # When each conversation's latest job ended, oldest first.
        self._settled_at: OrderedDict[StoreKey, float] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        worker.on_settled(self._settled)

    def schedule(
        self,
        account_id: int,
        external_id: str,
        reason: StorageReason,
        rule_id: str | None = None,
        seen_at: float | None = None,
    ) -> None:
        """`seen_at`: when (`time.monotonic()`) the caller read the conversation unstored; a read
        older than the end of its latest job may not have seen the copy that job made."""
        key = (account_id, external_id)
        now = time.monotonic()
        self._expire(now)
        if key in self._pending:
            return
        if seen_at is not None and seen_at <= self._settled_at.get(key, -math.inf):
            return
        try:
            self._requests.put_nowait(
                StoreRequest(account_id, external_id, reason, rule_id, current_request_id())
            )
        except asyncio.QueueFull:
            # The next read or webhook that sees the conversation schedules it again.
            log.warning(
                "automatic storage backlog full; %s of account %s waits", external_id, account_id
            )
            return
        self._pending[key] = now + self.dedupe_seconds
        while len(self._pending) > self._backlog:
            self._pending.popitem(last=False)

    def _expire(self, now: float) -> None:
        # All entries live equally long: the oldest expire first.
        while self._pending:
            key, expires = next(iter(self._pending.items()))
            if expires > now:
                return
            del self._pending[key]

    def _settled(self, account_id: int, external_id: str) -> None:
        key = (account_id, external_id)
        self._pending.pop(key, None)
        self._settled_at.pop(key, None)
        self._settled_at[key] = time.monotonic()
        while len(self._settled_at) > self._backlog:
            self._settled_at.popitem(last=False)

    async def enqueue(
        self,
        account_id: int,
        external_id: str,
        reason: StorageReason,
        rule_id: str | None = None,
    ) -> None:
        await enqueue_store(account_id, external_id, reason, rule_id)
        self.worker.wake()

    async def flush(self) -> int:
        """Enqueue what is scheduled now, without waiting for the background task; how many."""
        done = 0
        while not self._requests.empty():
            await self._enqueue_scheduled(self._requests.get_nowait())
            done += 1
        return done

    async def start(self) -> None:
        await self.worker.start()
        self._task = asyncio.create_task(self._drain(), name="switchboard-autostore")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        await self.worker.aclose()

    async def _drain(self) -> None:
        while True:
            await self._enqueue_scheduled(await self._requests.get())

    async def _enqueue_scheduled(self, request: StoreRequest) -> None:
        account_id, external_id, reason, rule_id, request_id = request
        try:
            with request_id_scope(request_id):
                await self.enqueue(account_id, external_id, reason, rule_id)
        except Exception:  # a failed enqueue must not stop the ones after it
            # The next read that sees the conversation schedules it again.
            self._pending.pop((account_id, external_id), None)
            log.exception("could not queue %s of account %s for storage", external_id, account_id)


class KeepInStep:
    """The webhook hook: append a new message to the stored copy, or queue the conversation for
    automatic storage when its channel's policy and a match say so."""

    def __init__(
        self, unipile: UnipileClient, attendee_cache: AttendeeCache, auto_store: AutoStore
    ) -> None:
        self.unipile = unipile
        self.attendee_cache = attendee_cache
        self.auto_store = auto_store

    async def __call__(
        self, account: Account, conversation: ConversationRecord, message: MessageRecord
    ) -> None:
        await append_message(account, message)
        # Matching is the workspace's, the same for every viewer: read it as the account's owner.
        scope = await load_viewer_scope(Identity(account.owner_id, account.workspace_id))
        if scope is None:
            return
        reading = Reading.for_viewer(scope, self.unipile, self.attendee_cache)
        [facts] = await load_facts(reading, [conversation])
        decision = facts.decision
        if decision.auto_store and facts.state.stored_id is None:
            await self.auto_store.enqueue(
                account.id, conversation.external_id, decision.reason, rule_id_of(decision)
            )
