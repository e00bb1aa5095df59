"""Leased work queues in the database: rows claimed by any process, one worker at a time.

A row is claimed with a conditional UPDATE: the WHERE clause (free, or its lease expired, and due)
is evaluated again under the row lock, so of two workers racing for a row exactly one updates it,
on SQLite and PostgreSQL alike, within a process or across processes. A claim is a lease rather
than a lock, and a short one (`DEFAULT_CLAIM_TTL`): while the work runs, a heartbeat renews it
every `heartbeat_interval` seconds, so a long run keeps its row, and a worker that dies (a crash,
a SIGKILL, a lost host) stops renewing: its lease expires within `claim_ttl` and the next worker
to poll takes the row over. A worker records an outcome only while it still holds the claim, and a
worker that finds its claim gone (it could not renew in time, or it was taken over) stops the run.

The table needs `id`, `claimed_by`, `claimed_at` (the last renewal) and `next_attempt_at` columns.
Work is therefore at least once: whatever a queue runs must be idempotent. The processes sharing
a queue must agree on the time to within a few seconds, since leases are compared with their
clocks.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import time
import uuid
from abc import ABC, abstractmethod
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypedDict, TypeVar

from tortoise.expressions import Q
from tortoise.models import Model

log = logging.getLogger(__name__)

RowT = TypeVar("RowT", bound=Model)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    first_delay: float = 2.0
    max_delay: float = 600.0

    def delay(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt."""
        return timedelta(seconds=min(self.first_delay * 2 ** (attempts - 1), self.max_delay))

    def retry_at(self, attempts: int) -> datetime | None:
        """When to try again after the `attempts`-th failure; None once it is the last allowed."""
        if attempts >= self.max_attempts:
            return None
        return datetime.now(UTC) + self.delay(attempts)


DEFAULT_RETRY = RetryPolicy()
DEFAULT_CLAIM_TTL = 15.0
"""Seconds a claim lasts unless renewed: how late a dead worker's row is taken over, at most, plus
one poll interval."""


@dataclass(slots=True)
class QueueCounters:
    """What a queue's worker did since it was built, in this process: tests read it, and so can
    an exporter of metrics (the project has none yet)."""

    claimed: int = 0
    succeeded: int = 0
    failed: int = 0
    """Failed attempts, retried later or given up."""
    given_up: int = 0
    """Rows whose last allowed attempt failed: they stay FAILED, with their last error."""
    lost: int = 0
    """Claims lost before the outcome was recorded (not renewed in time, or taken over)."""


@dataclass(slots=True)
class _Lease:
    """A claim this worker holds; `settled` once its outcome is being recorded, after which the
    heartbeat neither renews it nor stops the run."""

    claim: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    settled: bool = False
    lost: bool = False


def worker_name() -> str:
    """A name unique to this worker, telling an operator which host and process holds a claim."""
    return f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class QueueTuning(TypedDict, total=False):
    """What the owner of a queue may tune, each queue having defaults of its own."""

    poll_interval: float
    claim_ttl: float
    heartbeat_interval: float | None
    run_timeout: float
    batch_size: int
    retry: RetryPolicy


class LeasedQueue(ABC, Generic[RowT]):
    """Claims due rows of `model`, oldest first, and hands each to `process` under its lease.

    It runs after `start()` until `aclose()`: at once, whenever `wake()` is called (after this
    process queued work), and every `poll_interval` seconds for rows queued by other processes,
    left by a crash, or due for a retry. One row at a time, for at most `run_timeout` seconds,
    its claim renewed every `heartbeat_interval` seconds (a third of `claim_ttl` by default).
    """

    def __init__(
        self,
        model: type[RowT],
        *,
        name: str,
        run_timeout: float = 60.0,
        batch_size: int = 50,
        poll_interval: float = 5.0,
        claim_ttl: float = DEFAULT_CLAIM_TTL,
        retry: RetryPolicy = DEFAULT_RETRY,
        heartbeat_interval: float | None = None,
    ) -> None:
        heartbeat = claim_ttl / 3 if heartbeat_interval is None else heartbeat_interval
        if not 0 < heartbeat < claim_ttl / 2:
            # Otherwise one late renewal would let a live worker's claim expire, and a second
            # worker run the same row.
            raise ValueError("the heartbeat interval must be positive and below half of claim_ttl")
        self._model = model
        self._name = name
        self._poll_interval = poll_interval
        self._claim_ttl = timedelta(seconds=claim_ttl)
        self._heartbeat_interval = heartbeat
        self._run_timeout = run_timeout
        self._batch_size = batch_size
        self._retry = retry
        self._worker = worker_name()
        self._claims = itertools.count(1)
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._leases: dict[str, _Lease] = {}
        self.counters = QueueCounters()

    @abstractmethod
    def _claimable(self, now: datetime) -> Q:
        """What else makes a row worth claiming, besides being due and free."""

    @abstractmethod
    async def _process(self, row: RowT, claim: str) -> None:
        """Run one claimed row and record its outcome with `_settle`."""

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        """Start working, beginning with whatever earlier runs left pending."""
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def aclose(self, grace: float = 5.0) -> None:
        """Stop after the current row; past `grace` seconds, cancel it (its claim expires)."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(self._task, grace)
        except TimeoutError:
            log.warning("%s did not stop within %s s; cancelled", self._name, grace)
        self._task = None

    async def process_pending(self) -> int:
        """Process the rows claimable now, up to one batch; how many this worker claimed."""
        claimed = 0
        for row_id in await self._candidates():
            if self._stopping:
                break
            row, claim = await self._claim(row_id)
            if row is not None:
                claimed += 1
                self.counters.claimed += 1
                await self._run_leased(row, claim)
        return claimed

    async def _run_leased(self, row: RowT, claim: str) -> None:
        """`_process` the row while a heartbeat renews its claim; stop it if the claim is lost."""
        lease = self._leases[claim] = _Lease(claim)
        work = asyncio.create_task(self._process(row, claim), name=f"{self._name}:{row.pk}")
        heartbeat = asyncio.create_task(self._heartbeat(int(row.pk), lease, work))
        try:
            await work
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not lease.lost or (current is not None and current.cancelling()):
                raise  # this worker is being stopped: its claim expires for another to take
            self.counters.lost += 1
        finally:
            heartbeat.cancel()
            with suppress(asyncio.CancelledError):
                await heartbeat
            del self._leases[claim]

    async def _heartbeat(self, row_id: int, lease: _Lease, work: asyncio.Task[None]) -> None:
        renewed = time.monotonic()
        ttl = self._claim_ttl.total_seconds()
        while True:
            await asyncio.sleep(self._heartbeat_interval)
            async with lease.lock:
                if lease.settled:
                    return
                try:
                    kept = await self._renew(row_id, lease.claim)
                except Exception as error:
                    # Another try before the lease runs out, if there is time for one.
                    kept = time.monotonic() - renewed + self._heartbeat_interval < ttl
                    log.warning(
                        "%s could not renew its claim on row %s%s: %r",
                        self._name,
                        row_id,
                        "" if kept else "; stopping the run",
                        error,
                    )
                    if kept:
                        continue
                else:
                    if kept:
                        renewed = time.monotonic()
                        continue
                    log.warning(
                        "%s lost its claim on row %s (taken over); stopping the run",
                        self._name,
                        row_id,
                    )
                lease.lost = True
                work.cancel()
                return

    async def _renew(self, row_id: int, claim: str) -> bool:
        now = datetime.now(UTC)
        return await self._model.filter(id=row_id, claimed_by=claim).update(claimed_at=now) == 1

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                while await self.process_pending():
                    pass
            except Exception:
                # The database may be briefly unreachable; the next poll tries again.
                log.exception("%s failed", self._name)
            with suppress(TimeoutError):
                async with asyncio.timeout(self._poll_interval):
                    await self._wake.wait()

    def _leasable(self, now: datetime) -> Q:
        return (
            self._claimable(now)
            & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            & (Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - self._claim_ttl))
        )

    async def _candidates(self) -> list[int]:
        query = self._model.filter(self._leasable(datetime.now(UTC)))
        found = await query.order_by("id").limit(self._batch_size).only("id")
        return [int(row.pk) for row in found]

    async def _claim(self, row_id: int) -> tuple[RowT | None, str]:
        now = datetime.now(UTC)
        claim = f"{self._worker}#{next(self._claims)}"
        query = self._model.filter(self._leasable(now), id=row_id)
        if await query.update(claimed_by=claim, claimed_at=now) != 1:
            return None, claim
        return await self._model.get(id=row_id), claim

    async def _settle(self, row_id: int, claim: str, *conditions: Q, **changes: Any) -> bool:
        """Release the claim with `changes`, if it is still ours and the row meets `conditions`;
        whether it was. The heartbeat stops renewing the claim from here on."""
        lease = self._leases.get(claim)
        if lease is None:
            return await self._release(row_id, claim, conditions, changes)
        async with lease.lock:
            lease.settled = True
            return await self._release(row_id, claim, conditions, changes)

    async def _release(
        self, row_id: int, claim: str, conditions: tuple[Q, ...], changes: dict[str, Any]
    ) -> bool:
        updated = await self._model.filter(*conditions, id=row_id, claimed_by=claim).update(
            claimed_by=None, claimed_at=None, **changes
        )
        return updated == 1
