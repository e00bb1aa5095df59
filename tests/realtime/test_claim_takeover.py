"""Claims are short leases renewed while the work runs: a long run keeps its row, and a dead
worker's rows are taken over within seconds (`DEFAULT_CLAIM_TTL`), not minutes."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import cast

import pytest

from core.vocabulary import ReceiptState
from db.claims import DEFAULT_CLAIM_TTL, LeasedQueue
from db.models import WebhookReceipt
from realtime.pubsub import InProcessPubSub
from realtime.receipts import Publication, ReceiptProcessor, identify, record_receipt
from storing.jobs import StoreWorker
from tests.realtime.conftest import HandledLog, eventually
from unipile import UnipileClient

ROOT = Path(__file__).resolve().parents[2]
MESSAGE = {"event": "message_received", "account_id": "acc", "message_id": "m1", "message": "hi"}
TTL = 2.0  # short for the test; the default is DEFAULT_CLAIM_TTL
TAKEOVER_LIMIT = 30.0


def test_the_default_lease_and_poll_take_a_dead_workers_row_over_within_30_s() -> None:
    processor = ReceiptProcessor(InProcessPubSub())
    assert DEFAULT_CLAIM_TTL + processor._poll_interval < TAKEOVER_LIMIT
    # A heartbeat renews a third of the way through, so one late renewal loses nothing.
    assert processor._heartbeat_interval == DEFAULT_CLAIM_TTL / 3
    with pytest.raises(ValueError, match="heartbeat"):
        ReceiptProcessor(InProcessPubSub(), claim_ttl=2, heartbeat_interval=1.5)
    assert isinstance(processor, LeasedQueue)


async def record(payload: dict[str, object]) -> None:
    identity = identify(payload)
    assert identity is not None
    assert await record_receipt(identity, payload)


async def test_a_receipt_of_a_worker_killed_mid_run_is_taken_over_by_another_process(
    database: str, tmp_path: Path
) -> None:
    await record(MESSAGE)
    errors = tmp_path / "worker.log"
    with errors.open("wb") as stderr:
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.realtime.claim_worker",
            database,
            str(TTL),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,
        )
    log = HandledLog()
    survivor = ReceiptProcessor(InProcessPubSub(), poll_interval=0.1, claim_ttl=TTL)
    survivor.on("message_received", log.handler)
    try:
        assert worker.stdout is not None
        line = await asyncio.wait_for(worker.stdout.readline(), 30)
        assert line.startswith(b"claimed "), errors.read_text()
        await survivor.start()
        # The other process's run lasts longer than its lease: its heartbeat keeps the claim.
        await asyncio.sleep(TTL * 2)
        assert log.ids == []
        receipt = await WebhookReceipt.get()
        assert receipt.claimed_by is not None and receipt.state is ReceiptState.PENDING
        os.killpg(worker.pid, signal.SIGKILL)
        await asyncio.wait_for(worker.wait(), 10)
        killed = time.monotonic()

        async def taken_over() -> bool:
            return log.ids == [receipt.id]

        await eventually(taken_over, within=TAKEOVER_LIMIT)
        took = time.monotonic() - killed
    finally:
        await survivor.aclose()
        if worker.returncode is None:
            os.killpg(worker.pid, signal.SIGKILL)
            await worker.wait()
    assert took < TTL + 2.0  # the lease, then a poll
    receipt = await WebhookReceipt.get()
    assert (receipt.state, receipt.attempts, receipt.claimed_by) == (
        ReceiptState.PROCESSED,
        1,
        None,
    )
    assert log.ids == [receipt.id]


async def test_a_long_run_keeps_its_claim_and_runs_once(database: str) -> None:
    runs: list[int] = []

    async def slow(receipt: WebhookReceipt) -> Sequence[Publication]:
        runs.append(receipt.id)
        await asyncio.sleep(TTL * 1.25)  # 2.5 leases
        return [Publication("news", {"receipt": receipt.id})]

    await record(MESSAGE)
    pubsub = InProcessPubSub()
    first = ReceiptProcessor(pubsub, poll_interval=0.05, claim_ttl=TTL / 2)
    second = ReceiptProcessor(pubsub, poll_interval=0.05, claim_ttl=TTL / 2)
    for processor in (first, second):
        processor.on("message_received", slow)
    async with pubsub.subscribe("news") as news:
        await first.start()
        await second.start()
        try:

            async def processed() -> bool:
                return await WebhookReceipt.filter(state=ReceiptState.PROCESSED).exists()

            await eventually(processed, within=10)
            async with asyncio.timeout(1):
                assert await anext(news) == {"receipt": runs[0]}
            await asyncio.sleep(TTL * 0.6)  # long enough for a second run to begin
        finally:
            await first.aclose()
            await second.aclose()
    assert len(runs) == 1
    receipt = await WebhookReceipt.get()
    assert receipt.attempts == 1
    counters = (first.counters, second.counters)
    assert sum(c.claimed for c in counters) == sum(c.succeeded for c in counters) == 1
    assert sum(c.lost for c in counters) == 0


async def test_a_run_whose_claim_is_taken_stops_and_records_nothing(database: str) -> None:
    started = asyncio.Event()
    finished: list[int] = []

    async def slow(receipt: WebhookReceipt) -> Sequence[Publication]:
        started.set()
        await asyncio.sleep(TTL * 3)
        finished.append(receipt.id)
        return [Publication("news", {"receipt": receipt.id})]

    await record(MESSAGE)
    pubsub = InProcessPubSub()
    worker = ReceiptProcessor(pubsub, claim_ttl=TTL / 2)
    worker.on("message_received", slow)
    async with pubsub.subscribe("news") as news:
        running = asyncio.create_task(worker.process_pending())
        await asyncio.wait_for(started.wait(), 5)
        # Another worker takes the row over (as it would after a long pause of this one).
        await WebhookReceipt.all().update(claimed_by="another-worker#1")
        async with asyncio.timeout(TTL * 2):
            assert await running == 1
        assert await pubsub_is_quiet(news)
    assert finished == []
    assert worker.counters.lost == 1 and worker.counters.succeeded == 0
    receipt = await WebhookReceipt.get()
    assert (receipt.state, receipt.attempts, receipt.claimed_by) == (
        ReceiptState.PENDING,
        0,
        "another-worker#1",
    )


async def pubsub_is_quiet(news: AsyncIterator[object]) -> bool:
    try:
        async with asyncio.timeout(0.2):
            await anext(news)
    except TimeoutError:
        return True
    return False


def test_store_jobs_use_the_short_renewed_lease_too() -> None:
    worker = StoreWorker(cast(UnipileClient, None))
    assert worker._claim_ttl.total_seconds() == DEFAULT_CLAIM_TTL
    assert worker._heartbeat_interval == DEFAULT_CLAIM_TTL / 3
