"""The durable queue of conversations to store automatically, and the worker that stores them.

Automatic storage never runs inside the request that noticed a match: an inbox read or a webhook
enqueues a job (`enqueue_store`), a row in the database that survives a restart, and a
`StoreWorker` stores the conversation later. A conversation has one job row, armed by a single
upsert, and left as it is while it waits to run, so a conversation is never queued twice, and
since a job runs only under its lease (`db.claims`), never stored by two workers at once, in one
process or across processes. A worker that dies leaves its lease to expire; the next one takes the
job over. Storing is idempotent, so a job run again after a crash adds nothing twice.

The row also remembers that a user forgot the conversation (`forget_automatic_storage`): from then
on it is never enqueued nor run again, until a user stores or links it by hand
(`allow_automatic_storage`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Unpack

from prometheus_client import Counter
from tortoise.connection import get_connection
from tortoise.expressions import Q

from core.request_ids import current_request_id, new_request_id, request_id_scope
from core.vocabulary import JobState, StorageReason
from crm.storage import SyncLimits, load_storage_rules, sync_limits
from db.claims import LeasedQueue, QueueTuning
from db.models import Account, StoreJob
from db.sql import placeholders
from storing.copies import store_conversation
from unipile import UnipileClient

__all__ = [
    "StoreWorker",
    "allow_automatic_storage",
    "enqueue_store",
    "forget_automatic_storage",
]

log = logging.getLogger(__name__)

STORE_JOBS = Counter(
    "switchboard_store_jobs_total",
    "Runs of automatic-storage jobs by outcome: `done`, `retried` (failed, to run again) or "
    "`given_up` (failed its last attempt).",
    ["outcome"],
)

# One statement: the insert creates the row if missing (without failing when another process just
# did), and on conflict arms the row, unless it is forgotten, or waiting to run with that reason
# and rule already (pending, or failed with a retry due, and claimed by nobody): that run fetches
# the conversation afresh anyway, while another rule may keep more or less of it. A claimed row is
# armed again, so that the run under way, which may have fetched the conversation before this
# news, does not mark it done. (No rule id is empty: COALESCE compares a missing one, NULL, as
# one, where `=` would say neither true nor false.)
_ENQUEUE_SQL = """
INSERT INTO store_job
    (account_id, external_id, reason, state, generation, attempts, enqueued_at, request_id,
     rule_id)
VALUES ({0}, {1}, {2}, 'PENDING', 1, 0, {3}, {4}, {5})
ON CONFLICT (account_id, external_id) DO UPDATE SET
    reason = excluded.reason,
    request_id = excluded.request_id,
    rule_id = excluded.rule_id,
    state = 'PENDING',
    generation = store_job.generation + 1,
    attempts = 0,
    last_error = NULL,
    next_attempt_at = NULL,
    finished_at = NULL,
    enqueued_at = excluded.enqueued_at
WHERE store_job.forgotten_at IS NULL
  AND NOT (
    store_job.claimed_by IS NULL
    AND store_job.reason = excluded.reason
    AND COALESCE(store_job.rule_id, '') = COALESCE(excluded.rule_id, '')
    AND (store_job.state = 'PENDING'
         OR (store_job.state = 'FAILED' AND store_job.next_attempt_at IS NOT NULL))
  )
"""
# A forgotten conversation's row is done, whatever it was; the generation moves on, so that a run
# under way does not record its outcome over this one.
_FORGET_SQL = """
INSERT INTO store_job
    (account_id, external_id, reason, state, generation, attempts, enqueued_at, finished_at,
     forgotten_at)
VALUES ({0}, {1}, 'NONE', 'DONE', 1, 0, {2}, {3}, {4})
ON CONFLICT (account_id, external_id) DO UPDATE SET
    state = 'DONE',
    generation = store_job.generation + 1,
    last_error = NULL,
    next_attempt_at = NULL,
    finished_at = excluded.forgotten_at,
    forgotten_at = excluded.forgotten_at
"""


async def enqueue_store(
    account_id: int, external_id: str, reason: StorageReason, rule_id: str | None = None
) -> None:
    """Queue the conversation for storing (with the latest `reason`, the current match).

    Idempotent, in one statement: a conversation already waiting to run stays queued once (with
    the latest reason); one stored or given up before is queued again with fresh attempts; one a
    user forgot is left alone. Raises nothing on a concurrent enqueue, so it may run inside the
    caller's transaction. A process running a `StoreWorker` should `wake()` it afterwards. The
    job's runs carry the current request id (the enqueuing request's, or webhook receipt's).
    """
    sql = _ENQUEUE_SQL.format(*placeholders(1, 6))
    values = [
        account_id,
        external_id,
        reason.value,
        datetime.now(UTC),
        current_request_id(),
        rule_id,
    ]
    await get_connection("default").execute_query(sql, values)


async def forget_automatic_storage(account_id: int, external_id: str) -> None:
    """Mark the conversation as forgotten by a user: automatic storage never queues it again, and
    a queued job is dropped. One statement; may run inside the caller's transaction."""
    now = datetime.now(UTC)
    sql = _FORGET_SQL.format(*placeholders(1, 5))
    await get_connection("default").execute_query(sql, [account_id, external_id, now, now, now])


async def allow_automatic_storage(account_id: int, external_id: str) -> None:
    """Clear a user's forget mark: to call when a user stores or links the conversation again."""
    await StoreJob.filter(
        account_id=account_id, external_id=external_id, forgotten_at__isnull=False
    ).update(forgotten_at=None)


async def job_limits(account: Account, rule_id: str | None) -> SyncLimits:
    """The sync limits of the rule that queued a job, over its channel's; the channel's alone
    when the rule is gone by the time the job runs (saving the rules gives each a new id)."""
    if rule_id is None:
        return sync_limits(account.channel)
    rules = await load_storage_rules(account.workspace_id)
    return sync_limits(account.channel, rules.rule(rule_id))


Settled = Callable[[int, str], None]
"""Called with (account id, UniPile id) once a job's run is over: done, or given up."""


class StoreWorker(LeasedQueue[StoreJob]):
    """Stores the queued conversations, one at a time, retrying failures with backoff."""

    def __init__(self, client: UnipileClient, **tuning: Unpack[QueueTuning]) -> None:
        super().__init__(
            StoreJob,
            name="store-worker",
            **(QueueTuning(run_timeout=120.0, batch_size=20) | tuning),
        )
        self._client = client
        self._settled: list[Settled] = []

    def on_settled(self, callback: Settled) -> None:
        """Call `callback` once each job this worker runs is done or given up."""
        self._settled.append(callback)

    async def run_pending(self) -> int:
        """Run jobs until none is claimable now; how many this worker ran."""
        ran = 0
        while claimed := await self.process_pending():
            ran += claimed
        return ran

    def _claimable(self, now: datetime) -> Q:
        return (
            Q(state__in=[JobState.PENDING, JobState.FAILED])
            & Q(attempts__lt=self._retry.max_attempts)
            & Q(forgotten_at__isnull=True)
        )

    async def _process(self, job: StoreJob, claim: str) -> None:
        # A job armed outside any request (a command, a test) runs under an id of its own.
        with request_id_scope(job.request_id or new_request_id()):
            await self._store(job, claim)

    async def _store(self, job: StoreJob, claim: str) -> None:
        attempts = job.attempts + 1
        try:
            account = await Account.get(id=job.account_id)
            # A disconnected account's conversations are no longer Switchboard's to copy.
            if account.detached_at is None:
                async with asyncio.timeout(self._run_timeout):
                    await store_conversation(
                        self._client,
                        account,
                        job.external_id,
                        job.reason,
                        limits=await job_limits(account, job.rule_id),
                    )
        except Exception as error:
            retry_at = self._retry.retry_at(attempts)
            self.counters.failed += 1
            if retry_at is None:
                self.counters.given_up += 1
            STORE_JOBS.labels("given_up" if retry_at is None else "retried").inc()
            log.log(
                logging.ERROR if retry_at is None else logging.WARNING,
                "storing %s of account %s failed, attempt %d of %d%s: %.300r",
                job.external_id,
                job.account_id,
                attempts,
                self._retry.max_attempts,
                "; giving up" if retry_at is None else "; retried later",
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
            if retry_at is None:
                self._announce(job)
            return
        self.counters.succeeded += 1
        STORE_JOBS.labels("done").inc()
        log.info("stored %s of account %s, attempt %d", job.external_id, job.account_id, attempts)
        await self._record(
            job,
            claim,
            state=JobState.DONE,
            attempts=attempts,
            last_error=None,
            finished_at=datetime.now(UTC),
        )
        self._announce(job)

    async def _record(self, job: StoreJob, claim: str, **outcome: object) -> None:
        """Record the attempt's outcome, unless the job was enqueued again meanwhile: this run may
        have fetched the conversation before whatever caused that, so the job stays pending."""
        if await self._settle(job.id, claim, Q(generation=job.generation), **outcome):
            return
        if not await self._settle(job.id, claim):
            self.counters.lost += 1
            log.warning("store job %s was taken over before its outcome was recorded", job.id)

    def _announce(self, job: StoreJob) -> None:
        for callback in self._settled:
            try:
                callback(job.account_id, job.external_id)
            except Exception:
                log.exception("a settled-job callback failed")
