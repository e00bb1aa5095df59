"""Automatic storage, kept off the request path.

An inbox read that sees a conversation to store automatically only schedules it here; a
background task writes the durable job (`server.jobs.enqueue_store`) after the response, and
wakes the worker. Webhook processing, already in the background, enqueues directly.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from db.models import Account
from db.vocabulary import StorageReason
from resolvers.context import Context, Services
from resolvers.conversations import load_facts
from resolvers.live import ConversationRecord, MessageRecord
from resolvers.storing import append_message
from server.auth import Identity
from server.jobs import StoreWorker, enqueue_store

log = logging.getLogger(__name__)

BACKLOG = 10_000

StoreRequest = tuple[int, str, StorageReason]


class AutoStore:
    def __init__(self, worker: StoreWorker, backlog: int = BACKLOG) -> None:
        self.worker = worker
        self._requests: asyncio.Queue[StoreRequest] = asyncio.Queue(backlog)
        self._task: asyncio.Task[None] | None = None

    def schedule(self, account_id: int, external_id: str, reason: StorageReason) -> None:
        try:
            self._requests.put_nowait((account_id, external_id, reason))
        except asyncio.QueueFull:
            # The next read or webhook that sees the conversation schedules it again.
            log.warning(
                "automatic storage backlog full; %s of account %s waits", external_id, account_id
            )

    async def enqueue(self, account_id: int, external_id: str, reason: StorageReason) -> None:
        await enqueue_store(account_id, external_id, reason)
        self.worker.wake()

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
            request = await self._requests.get()
            try:
                await self.enqueue(*request)
            except Exception:  # a failed enqueue must not stop the ones after it
                log.exception(
                    "could not queue %s of account %s for storage", request[1], request[0]
                )


class KeepInStep:
    """The webhook hook: append a new message to the stored copy, or queue the conversation for
    automatic storage when its channel's policy and a match say so."""

    def __init__(self, services: Services, auto_store: AutoStore) -> None:
        self.services = services
        self.auto_store = auto_store

    async def __call__(
        self, account: Account, conversation: ConversationRecord, message: MessageRecord
    ) -> None:
        await append_message(account, message)
        # Matching is the workspace's, the same for every viewer: read it as the account's owner.
        context = Context(
            request=None,
            services=self.services,
            identity=Identity(account.owner_id, account.workspace_id),
        )
        [facts] = await load_facts(context, [conversation])
        if facts.decision.auto_store and facts.state.stored_id is None:
            await self.auto_store.enqueue(
                account.id, conversation.external_id, facts.decision.reason
            )
