from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.vocabulary import ReceiptState
from db.claims import RetryPolicy
from db.models import WebhookReceipt
from realtime import receipts
from realtime.pubsub import InProcessPubSub
from realtime.receipts import (
    EventIdentity,
    Publication,
    ReceiptProcessor,
    ReceiptRecorder,
    identify,
    record_receipt,
)
from tests.realtime.conftest import HandledLog, eventually

MESSAGE = {"event": "message_received", "account_id": "acc", "message_id": "m1", "message": "hi"}
STATUS = {"AccountStatus": {"account_id": "acc", "account_type": "WHATSAPP", "message": "ERROR"}}


def message(n: int) -> dict[str, object]:
    return {**MESSAGE, "message_id": f"m{n}"}


def processor(
    log: HandledLog, *, batch_size: int = 50, poll_interval: float = 5.0
) -> ReceiptProcessor:
    instance = ReceiptProcessor(
        InProcessPubSub(), batch_size=batch_size, poll_interval=poll_interval
    )
    instance.on("message_received", log.handler)
    return instance


def test_events_with_an_id_are_keyed_by_it() -> None:
    received = identify(MESSAGE)
    assert received is not None and received.key == "message_received:m1"
    mail = identify({"event": "mail_received", "email_id": "e1", "subject": "x"})
    assert mail is not None and (mail.kind, mail.key, mail.lasting) == (
        "mail_received",
        "mail_received:e1",
        True,
    )


def test_other_events_are_keyed_by_their_content_whatever_the_webhook() -> None:
    status = identify({**STATUS, "webhook_name": "a"})
    assert status is not None and status.kind == "account_status" and not status.lasting
    assert status == identify({**STATUS, "webhook_name": "b"})
    other = {"AccountStatus": {**STATUS["AccountStatus"], "message": "OK"}}
    assert status != identify(other)


def test_a_payload_naming_no_event_has_no_identity() -> None:
    assert identify({"hello": "world"}) is None
    assert identify({"event": 3}) is None


async def test_a_receipt_is_recorded_once(database: str) -> None:
    identity = identify(MESSAGE)
    assert identity is not None
    assert await record_receipt(identity, MESSAGE)
    assert not await record_receipt(identity, MESSAGE)
    assert await WebhookReceipt.all().count() == 1


async def test_two_processors_process_each_receipt_once(database: str) -> None:
    for n in range(40):
        identity = identify(message(n))
        assert identity is not None
        await record_receipt(identity, message(n))
    log = HandledLog()
    first, second = processor(log, batch_size=40), processor(log, batch_size=40)
    while sum(await asyncio.gather(first.process_pending(), second.process_pending())):
        pass
    assert sorted(Counter(log.ids).values()) == [1] * 40
    assert await WebhookReceipt.filter(state=ReceiptState.PROCESSED).count() == 40


async def test_receipts_left_by_a_crash_are_processed_by_the_next_start(database: str) -> None:
    now = datetime.now(UTC)
    never_claimed = await WebhookReceipt.create(event_key="a", event="message_received", payload={})
    dead_claim = await WebhookReceipt.create(
        event_key="b",
        event="message_received",
        payload={},
        claimed_by="dead-worker#1",
        claimed_at=now - timedelta(hours=1),
    )
    live_claim = await WebhookReceipt.create(
        event_key="c",
        event="message_received",
        payload={},
        claimed_by="live-worker#1",
        claimed_at=now - timedelta(seconds=1),
    )
    log = HandledLog()
    restarted = processor(log, poll_interval=0.1)
    await restarted.start()
    try:

        async def both_processed() -> bool:
            return sorted(log.ids) == [never_claimed.id, dead_claim.id]

        await eventually(both_processed)
    finally:
        await restarted.aclose()
    await live_claim.refresh_from_db()
    assert (live_claim.state, live_claim.claimed_by) == (ReceiptState.PENDING, "live-worker#1")


async def test_a_failing_receipt_is_retried_then_given_up(database: str) -> None:
    failures = Counter[int]()

    async def flaky(receipt: WebhookReceipt) -> Sequence[Publication]:
        failures[receipt.id] += 1
        if receipt.payload["message_id"] == "m1" or failures[receipt.id] == 1:
            raise RuntimeError(f"failure {failures[receipt.id]}")
        return []

    for n in (1, 2):
        identity = identify(message(n))
        assert identity is not None
        await record_receipt(identity, message(n))
    worker = ReceiptProcessor(InProcessPubSub(), retry=RetryPolicy(max_attempts=3, first_delay=0))
    worker.on("message_received", flaky)
    while await worker.process_pending():
        pass
    hopeless, recovered = await WebhookReceipt.all().order_by("id")
    assert (hopeless.state, hopeless.attempts) == (ReceiptState.FAILED, 3)
    assert hopeless.last_error is not None and "failure 3" in hopeless.last_error
    assert (recovered.state, recovered.attempts) == (ReceiptState.PROCESSED, 2)


async def test_a_failed_receipt_waits_for_its_retry(database: str) -> None:
    async def failing(receipt: WebhookReceipt) -> Sequence[Publication]:
        raise RuntimeError("down")

    identity = identify(MESSAGE)
    assert identity is not None
    await record_receipt(identity, MESSAGE)
    worker = ReceiptProcessor(InProcessPubSub(), retry=RetryPolicy(first_delay=60))
    worker.on("message_received", failing)
    assert await worker.process_pending() == 1
    assert await worker.process_pending() == 0
    receipt = await WebhookReceipt.get()
    assert receipt.next_attempt_at is not None and receipt.next_attempt_at > datetime.now(UTC)


async def test_a_content_keyed_event_can_recur_once_processed(database: str) -> None:
    log = HandledLog()
    worker = ReceiptProcessor(InProcessPubSub())
    worker.on("account_status", log.handler)
    identity = identify(STATUS)
    assert identity is not None
    assert await record_receipt(identity, STATUS)
    assert not await record_receipt(identity, STATUS)  # a duplicate while it is pending
    assert await worker.process_pending() == 1
    assert await record_receipt(identity, STATUS)  # the same status, happening again
    assert await worker.process_pending() == 1
    assert len(log.ids) == 2


async def test_processed_receipts_publish_what_their_handler_returns(database: str) -> None:
    pubsub = InProcessPubSub()

    async def announce(receipt: WebhookReceipt) -> Sequence[Publication]:
        return [Publication("news", {"receipt": receipt.id})]

    worker = ReceiptProcessor(pubsub)
    worker.on("message_received", announce)
    identity = identify(MESSAGE)
    assert identity is not None
    await record_receipt(identity, MESSAGE)
    async with pubsub.subscribe("news") as news:
        await worker.process_pending()
        receipt = await WebhookReceipt.get()
        async with asyncio.timeout(1):
            assert await anext(news) == {"receipt": receipt.id}


class Searches(ReceiptProcessor):
    """A processor counting its searches for candidates (queries), not the receipts it was
    told of."""

    searches = 0

    async def _candidates(self) -> list[int]:
        if not self._recorded:
            self.searches += 1
        return await super()._candidates()


async def test_a_receipt_recorded_while_none_is_pending_is_claimed_without_a_search(
    database: str,
) -> None:
    searched_when_handled: list[int] = []
    queue = Searches(InProcessPubSub(), poll_interval=60.0)

    async def handler(receipt: WebhookReceipt) -> Sequence[Publication]:
        searched_when_handled.append(queue.searches)
        return []

    queue.on("message_received", handler)
    await queue.start()
    try:
        await until(lambda: queue.searches == 1)
        identity = identify(MESSAGE)
        assert identity is not None
        receipt_id = await record_receipt(identity, MESSAGE)
        assert receipt_id is not None
        queue.recorded(receipt_id)
        await until(lambda: searched_when_handled == [1])
    finally:
        await queue.aclose()
    assert (await WebhookReceipt.get(id=receipt_id)).state is ReceiptState.PROCESSED


async def test_receipts_recorded_behind_a_backlog_wait_their_turn_oldest_first(
    database: str,
) -> None:
    handled: list[int] = []
    release = asyncio.Event()
    queue = ReceiptProcessor(InProcessPubSub(), poll_interval=60.0)

    async def handler(receipt: WebhookReceipt) -> Sequence[Publication]:
        handled.append(receipt.id)
        await release.wait()
        return []

    queue.on("message_received", handler)
    backlog = []
    for n in range(3):
        identity = identify(message(n))
        assert identity is not None
        backlog.append(await record_receipt(identity, message(n)))
    await queue.start()
    try:
        await until(lambda: len(handled) == 1)
        identity = identify(message(99))
        assert identity is not None
        latest = await record_receipt(identity, message(99))
        assert latest is not None
        queue.recorded(latest)
        release.set()
        await until(lambda: len(handled) == 4)
    finally:
        await queue.aclose()
    assert handled == [*backlog, latest]


async def until(holds: Callable[[], bool]) -> None:
    async def check() -> bool:
        return holds()

    await eventually(check)


async def test_no_receipt_is_claimed_while_a_webhook_is_being_acknowledged(
    database: str,
) -> None:
    log = HandledLog()
    queue = processor(log, poll_interval=60.0)
    await queue.start()
    try:
        identity = identify(MESSAGE)
        assert identity is not None
        with queue.acknowledging():
            receipt_id = await record_receipt(identity, MESSAGE)
            assert receipt_id is not None
            queue.recorded(receipt_id)
            await asyncio.sleep(0.1)
            assert log.ids == []
            assert (await WebhookReceipt.get(id=receipt_id)).claimed_by is None
        await until(lambda: log.ids == [receipt_id])
    finally:
        await queue.aclose()


async def test_concurrent_receipts_share_one_commit_and_duplicates_stay_duplicates(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    original = receipts.record_receipts

    async def counted(
        events: Sequence[tuple[EventIdentity, Mapping[str, Any]]],
    ) -> list[int | None]:
        batches.append(len(events))
        return await original(events)

    monkeypatch.setattr(receipts, "record_receipts", counted)
    recorder = ReceiptRecorder()
    sent = [message(n) for n in range(8)] + [message(3)]
    identities = [identify(payload) for payload in sent]
    results = await asyncio.gather(
        *(recorder.record(i, payload) for i, payload in zip(identities, sent, strict=True) if i)
    )
    assert batches == [9]
    assert results[8] is None
    assert all(isinstance(receipt_id, int) for receipt_id in results[:8])
    stored = await WebhookReceipt.filter(id__in=results[:8]).values_list("event_key", flat=True)
    assert sorted(stored) == sorted(f"message_received:m{n}" for n in range(8))
    assert await recorder.record(identities[0], sent[0]) is None  # committed: a duplicate now
