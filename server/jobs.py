"""The durable queue of conversations to store automatically, and the worker that stores them.

Automatic storage never runs inside the request that noticed a match: an inbox read or a webhook
enqueues a job (`enqueue_store`), a row in the database that survives a restart, and a
`StoreWorker` stores the conversation later. A conversation has one job row, re-armed each time it
is enqueued again, so a conversation is never queued twice, and since a job runs only under its
lease (`db.claims`), never stored by two workers at once, in one process or across processes.
A worker that dies leaves its lease to expire; the next one takes the job over. Storing is
idempotent, so a job run again after a crash adds nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from tortoise.expressions import F, Q

from db.claims import DEFAULT_RETRY, LeasedQueue, RetryPolicy
from db.models import Account, StoreJob
from db.vocabulary import JobState, StorageReason
from resolvers.storing import store_conversation
from unipile import UnipileClient

__all__ = ["StoreWorker", "enqueue_store"]

log = logging.getLogger(__name__)


async def enqueue_store(account_id: int, external_id: str, reason: StorageReason) -> None:
    """Queue the conversation for storing (with the latest `reason`, the current match).

    Idempotent: a conversation already queued stays queued once; one stored or given up before is
    queued again with fresh attempts. Raises nothing on a concurrent enqueue, so it may run inside
    the caller's transaction. A process running a `StoreWorker` should `wake()` it afterwards.
    """
    # The insert creates the row if missing (without failing when another process just did);
    # the update then arms it, whoever created it.
    await StoreJob.bulk_create(
        [
            StoreJob(
                account_id=account_id,
                external_id=external_id,
                reason=reason,
                generation=0,
                enqueued_at=datetime.now(UTC),
            )
        ],
        ignore_conflicts=True,
    )
    await StoreJob.filter(account_id=account_id, external_id=external_id).update(
        reason=reason,
        state=JobState.PENDING,
        generation=F("generation") + 1,
        attempts=0,
        last_error=None,
        next_attempt_at=None,
        finished_at=None,
        enqueued_at=datetime.now(UTC),
    )


class StoreWorker(LeasedQueue[StoreJob]):
    """Stores the queued conversations, one at a time, retrying failures with backoff."""

    def __init__(
        self,
        client: UnipileClient,
        *,
        poll_interval: float = 5.0,
        claim_ttl: float = 300.0,
        store_timeout: float = 120.0,
        batch_size: int = 20,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        super().__init__(
            StoreJob,
            name="store-worker",
            poll_interval=poll_interval,
            claim_ttl=claim_ttl,
            run_timeout=store_timeout,
            batch_size=batch_size,
            retry=retry,
        )
        self._client = client

    async def run_pending(self) -> int:
        """Run jobs until none is claimable now; how many this worker ran."""
        ran = 0
        while claimed := await self.process_pending():
            ran += claimed
        return ran

    def _claimable(self, now: datetime) -> Q:
        return Q(state__in=[JobState.PENDING, JobState.FAILED]) & Q(
            attempts__lt=self._retry.max_attempts
        )

    async def _process(self, job: StoreJob, claim: str) -> None:
        attempts = job.attempts + 1
        try:
            account = await Account.get(id=job.account_id)
            async with asyncio.timeout(self._run_timeout):
                await store_conversation(self._client, account, job.external_id, job.reason)
        except Exception as error:
            retry_at = self._retry.retry_at(attempts)
            log.warning(
                "storing %s of account %s failed, attempt %d%s: %r",
                job.external_id,
                job.account_id,
                attempts,
                " (giving up)" if retry_at is None else "",
                error,
            )
            await self._record(
                job,
                claim,
                state=JobState.FAILED,
                attempts=attempts,
                last_error=repr(error),
                next_attempt_at=retry_at,
            )
            return
        await self._record(
            job,
            claim,
            state=JobState.DONE,
            attempts=attempts,
            last_error=None,
            finished_at=datetime.now(UTC),
        )

    async def _record(self, job: StoreJob, claim: str, **outcome: object) -> None:
        """Record the attempt's outcome, unless the job was enqueued again meanwhile: this run may
        have fetched the conversation before whatever caused that, so the job stays pending."""
        if await self._settle(job.id, claim, Q(generation=job.generation), **outcome):
            return
        if not await self._settle(job.id, claim):
            log.warning("store job %s was taken over before its outcome was recorded", job.id)
