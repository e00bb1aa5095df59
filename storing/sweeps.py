"""Storage sweeps: after a workspace's storage rules change, its recent conversations are decided
again, in the background, and those the new rules store automatically are queued.

A rule change requests a sweep (`request_sweep`), a row of `storage_sweep`; a `StorageSweeper`
runs it under its lease (`db.claims`), in any process. It reads each account's most recent
conversations (`SWEEP_CONVERSATIONS`, newest first, through the live cache as the inbox does),
decides them as the account's owner would see them, and queues the ones to store
(`storing.jobs.enqueue_store`, idempotent), after which the `StoreWorker` stores them. Each
account swept is recorded in the row's `progress`, so that a sweep taken over after a crash goes
on after the last account it finished, and one retried after an account failed upstream sweeps
only the accounts left.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Unpack

from tortoise.connection import get_connection
from tortoise.expressions import Q

from access.scope import load_viewer_scope
from core.identity import Identity
from core.request_ids import new_request_id, request_id_scope
from core.vocabulary import JobState
from db.claims import LeasedQueue, QueueTuning
from db.models import Account, StorageSweep
from db.sql import placeholders
from inbox.conversations import stored_after
from inbox.facts import ConversationFacts, load_facts
from inbox.live_cache import LiveCache
from inbox.loaders import AttendeeCache
from inbox.merge import LaneSources, PushedDown, nothing_shown, read_inbox
from inbox.reading import Reading
from storing.automatic import rule_id_of
from storing.jobs import StoreWorker, enqueue_store

__all__ = ["SWEEP_CONVERSATIONS", "StorageSweeper", "request_sweep"]

log = logging.getLogger(__name__)

SWEEP_CONVERSATIONS = 100
"""The most recent conversations of each account a sweep decides again: older ones are decided
when a read or a webhook meets them."""

# One statement, so that a burst of rule changes leaves one sweep waiting: a sweep nobody has
# claimed yet reads the rules when it runs, the latest ones. Two changes committed at the same
# instant in two processes may still leave two; the second then only queues nothing anew.
_REQUEST_SQL = """
INSERT INTO storage_sweep (workspace_id, state, attempts, progress, requested_at)
SELECT {0}, 'PENDING', 0, '{{}}', {1}
WHERE NOT EXISTS (
    SELECT 1 FROM storage_sweep
    WHERE workspace_id = {2} AND state = 'PENDING' AND claimed_by IS NULL
)
"""


async def request_sweep(workspace_id: int) -> None:
    """Sweep the workspace's recent conversations under its rules, unless a sweep is already
    waiting to start. A process running a `StorageSweeper` should `wake()` it afterwards (or call
    `StorageSweeper.request`)."""
    sql = _REQUEST_SQL.format(*placeholders(1, 3))
    await get_connection("default").execute_query(
        sql, [workspace_id, datetime.now(UTC), workspace_id]
    )


@dataclass(slots=True)
class _Tally:
    """What one run of a sweep did, for its log line."""

    swept: int = 0
    decided: int = 0
    queued: int = 0


class StorageSweeper(LeasedQueue[StorageSweep]):
    """Runs the requested sweeps, one account at a time; a sweep an account's upstream failed is
    retried with backoff for the accounts left."""

    def __init__(
        self,
        cache: LiveCache,
        attendee_cache: AttendeeCache,
        store_worker: StoreWorker | None = None,
        **tuning: Unpack[QueueTuning],
    ) -> None:
        super().__init__(
            StorageSweep,
            name="storage-sweeper",
            **(QueueTuning(run_timeout=120.0, batch_size=5) | tuning),
        )
        self._cache = cache
        self._attendees = attendee_cache
        self._store_worker = store_worker

    async def request(self, workspace_id: int) -> None:
        """`request_sweep`, started at once in this process."""
        await request_sweep(workspace_id)
        self.wake()

    async def run_pending(self) -> int:
        """Run sweeps until none is claimable now; how many this worker ran."""
        ran = 0
        while claimed := await self.process_pending():
            ran += claimed
        return ran

    def _claimable(self, now: datetime) -> Q:
        return Q(state__in=[JobState.PENDING, JobState.FAILED]) & Q(
            attempts__lt=self._retry.max_attempts
        )

    async def _process(self, sweep: StorageSweep, claim: str) -> None:
        # Its store jobs, and their runs, log under the sweep's own id.
        with request_id_scope(new_request_id()):
            await self._sweep(sweep, claim)

    async def _sweep(self, sweep: StorageSweep, claim: str) -> None:
        done: list[int] = list(sweep.progress.get("accounts", []))
        accounts = (
            await Account.filter(workspace_id=sweep.workspace_id, detached_at__isnull=True)
            .exclude(id__in=done)
            .order_by("id")
        )
        tally = _Tally()
        errors: list[str] = []
        for account in accounts:
            try:
                async with asyncio.timeout(self._run_timeout):
                    decided, queued = await self._sweep_account(account)
            except Exception as error:  # one account failing must not stop the others
                errors.append(f"account {account.id}: {error!r}")
                log.warning("sweeping account %s failed: %.300r", account.id, error)
                continue
            tally.swept += 1
            tally.decided += decided
            tally.queued += queued
            done.append(account.id)
            if not await self._record_progress(sweep.id, claim, done):
                self.counters.lost += 1
                log.warning("storage sweep %s was taken over; stopping", sweep.id)
                return
        await self._finish(sweep, claim, tally, errors)

    async def _sweep_account(self, account: Account) -> tuple[int, int]:
        """Decide the account's most recent conversations as its owner sees them, and queue those
        to store automatically; how many were decided and how many queued."""
        # Matching is the workspace's, the same for every viewer: read it as the account's owner.
        scope = await load_viewer_scope(Identity(account.owner_id, account.workspace_id))
        visible = None if scope is None else scope.account(account.id)
        if scope is None or visible is None:
            return 0, 0  # an owner disabled or gone: nobody reads this account live
        reading = Reading.for_viewer(scope, self._cache.client, self._attendees)
        facts = await self._recent_facts(reading, visible)
        queued = 0
        for found in facts:
            decision = found.decision
            if decision.auto_store and found.state.stored_id is None:
                external_id = found.record.external_id
                await enqueue_store(account.id, external_id, decision.reason, rule_id_of(decision))
                queued += 1
        if queued and self._store_worker is not None:
            self._store_worker.wake()
        return len(facts), queued

    async def _recent_facts(self, reading: Reading, account: Account) -> list[ConversationFacts]:
        """The facts of the account's `SWEEP_CONVERSATIONS` most recent conversations, read as
        the inbox reads its lane; an upstream failure fails the account's sweep, for a retry,
        rather than deciding over stored copies or over groups without their members."""
        page = await read_inbox(
            LaneSources(self._cache, stored_after, nothing_shown),
            [account],
            {},
            PushedDown(unread=None, folder=None),
            SWEEP_CONVERSATIONS,
            None,
        )
        if page.failures:
            raise page.failures[0].error
        facts = await load_facts(reading, [conversation for conversation, _ in page.edges])
        if reading.problems:
            raise reading.problems[0]
        return facts

    async def _record_progress(self, sweep_id: int, claim: str, done: list[int]) -> bool:
        """Record the accounts swept, while the claim is still ours; whether it was."""
        updated = await StorageSweep.filter(id=sweep_id, claimed_by=claim).update(
            progress={"accounts": done}
        )
        return updated == 1

    async def _finish(
        self, sweep: StorageSweep, claim: str, tally: _Tally, errors: list[str]
    ) -> None:
        attempts = sweep.attempts + 1
        retry_at = self._retry.retry_at(attempts) if errors else None
        log.log(
            logging.WARNING if errors else logging.INFO,
            "storage sweep %s of workspace %s, attempt %d: %d accounts swept, %d failed%s, "
            "%d conversations decided, %d queued",
            sweep.id,
            sweep.workspace_id,
            attempts,
            tally.swept,
            len(errors),
            "" if not errors else "; retried later" if retry_at else "; giving up",
            tally.decided,
            tally.queued,
        )
        if errors:
            self.counters.failed += 1
            if retry_at is None:
                self.counters.given_up += 1
            outcome: dict[str, object] = {
                "state": JobState.FAILED,
                "last_error": "; ".join(errors)[:2000],
                "next_attempt_at": retry_at,
            }
        else:
            self.counters.succeeded += 1
            outcome = {"state": JobState.DONE, "last_error": None, "finished_at": datetime.now(UTC)}
        if not await self._settle(sweep.id, claim, attempts=attempts, **outcome):
            self.counters.lost += 1
            log.warning("storage sweep %s was taken over before its outcome was recorded", sweep.id)
