"""Leased work queues in the database: rows claimed by any process, one worker at a time.

A row is claimed with a conditional UPDATE: the WHERE clause (free, or its lease expired, and due)
is evaluated again under the row lock, so of two workers racing for a row exactly one updates it,
on SQLite and PostgreSQL alike, within a process or across processes. A claim is a lease rather
than a lock: a worker that dies leaves it to expire after `claim_ttl`, and the next worker takes
the row over. A worker records an outcome only while it still holds the claim.

The table needs `id`, `claimed_by`, `claimed_at` and `next_attempt_at` columns. Work is therefore
at least once: whatever a queue runs must be idempotent.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import uuid
from abc import ABC, abstractmethod
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

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


def worker_name() -> str:
    """A name unique to this worker, telling an operator which host and process holds a claim."""
    return f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeasedQueue(ABC, Generic[RowT]):
    """Claims due rows of `model`, oldest first, and hands each to `process` under its lease.

    It runs after `start()` until `aclose()`: at once, whenever `wake()` is called (after this
    process queued work), and every `poll_interval` seconds for rows queued by other processes,
    left by a crash, or due for a retry. One row at a time.
    """

    def __init__(
        self,
        model: type[RowT],
        *,
        name: str,
        poll_interval: float,
        claim_ttl: float,
        run_timeout: float,
        batch_size: int,
        retry: RetryPolicy,
    ) -> None:
        if run_timeout >= claim_ttl:
            # Otherwise a live worker's claim could expire and a second one run the same row.
            raise ValueError("the run timeout must be shorter than claim_ttl")
        self._model = model
        self._name = name
        self._poll_interval = poll_interval
        self._claim_ttl = timedelta(seconds=claim_ttl)
        self._run_timeout = run_timeout
        self._batch_size = batch_size
        self._retry = retry
        self._worker = worker_name()
        self._claims = itertools.count(1)
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

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
                await self._process(row, claim)
        return claimed

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
        whether it was."""
        updated = await self._model.filter(*conditions, id=row_id, claimed_by=claim).update(
            claimed_by=None, claimed_at=None, **changes
        )
        return updated == 1
