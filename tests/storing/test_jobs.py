"""The durable store queue: enqueueing, workers that die, retries, jobs enqueued while they run."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from core.vocabulary import JobState, StorageReason
from db.claims import RetryPolicy
from db.metrics import count_queries
from db.models import Account, Conversation, Message, StoreJob
from storing.automatic import AutoStore
from storing.jobs import (
    StoreWorker,
    allow_automatic_storage,
    enqueue_store,
    forget_automatic_storage,
)
from tests.realtime.conftest import eventually
from tests.storing.conftest import Sandbox, demo_chat, demo_conversations
from unipile import UnipileClient, count_requests

REASON = StorageReason.CONTACT_MATCH


async def test_enqueueing_twice_makes_one_job(whatsapp: Account) -> None:
    chat_id = demo_chat(group=False)
    await enqueue_store(whatsapp.id, chat_id, StorageReason.COMPANY_MATCH)
    await enqueue_store(whatsapp.id, chat_id, StorageReason.CONTACT_MATCH)
    job = await StoreJob.get()
    assert (job.account_id, job.external_id, job.state) == (whatsapp.id, chat_id, JobState.PENDING)
    assert (job.reason, job.generation) == (StorageReason.CONTACT_MATCH, 2)


async def test_a_stored_conversation_enqueued_again_is_brought_up_to_date(
    client: UnipileClient, sandbox: Sandbox, whatsapp: Account
) -> None:
    chat_id = demo_chat(group=False)
    worker = StoreWorker(client)
    await enqueue_store(whatsapp.id, chat_id, REASON)
    assert await worker.run_pending() == 1
    assert await worker.run_pending() == 0  # done jobs stay done
    stored = await Message.all().count()
    await sandbox.post(
        "/_sandbox/messages", {"account_id": whatsapp.unipile_id, "chat_id": chat_id, "text": "hi"}
    )
    await enqueue_store(whatsapp.id, chat_id, REASON)
    assert await worker.run_pending() == 1
    assert await Message.all().count() == stored + 1
    job = await StoreJob.get()
    assert (job.state, job.attempts, job.claimed_by) == (JobState.DONE, 1, None)
    conversation = await Conversation.get()
    assert (conversation.external_id, conversation.storage_reason) == (chat_id, REASON)


async def test_jobs_of_a_killed_worker_are_finished_by_the_next_one(
    client: UnipileClient, sandbox: Sandbox, demo: None
) -> None:
    accounts = {account.unipile_id: account for account in await Account.all()}
    conversations = demo_conversations(10)
    for unipile_id, external_id in conversations:
        await enqueue_store(accounts[unipile_id].id, external_id, REASON)
    # A job left claimed by a worker that died long ago.
    await StoreJob.filter(external_id=conversations[-1][1]).update(
        claimed_by="dead-worker#1", claimed_at=datetime.now(UTC) - timedelta(hours=1)
    )
    # Slow UniPile down so that the kill lands in the middle of the batch.
    await sandbox.post("/_sandbox/faults", {"latency_ms": 40})
    doomed = StoreWorker(client, poll_interval=0.05)
    await doomed.start()

    async def some_stored() -> bool:
        return await StoreJob.filter(state=JobState.DONE).count() >= 3

    try:
        await eventually(some_stored, within=20)
    finally:
        await doomed.aclose(grace=0)  # cancelled mid-job: its claim stays behind
    assert await StoreJob.filter(state=JobState.DONE).count() < len(conversations)
    # Its leases run out (claim_ttl) while it stays dead.
    await StoreJob.filter(claimed_by__isnull=False).update(
        claimed_at=datetime.now(UTC) - timedelta(hours=1)
    )

    await sandbox.post("/_sandbox/faults", {"latency_ms": 0})
    restarted = StoreWorker(client, poll_interval=0.05)
    await restarted.start()

    async def all_stored() -> bool:
        return await StoreJob.filter(state=JobState.DONE).count() == len(conversations)

    try:
        await eventually(all_stored, within=20)
    finally:
        await restarted.aclose()
    assert await StoreJob.filter(claimed_by__isnull=False).count() == 0
    stored = await Conversation.all().values_list("account__unipile_id", "external_id")
    assert sorted(stored) == sorted(conversations)
    for conversation in await Conversation.all():
        ids = await Message.filter(conversation_id=conversation.id).values_list(
            "external_id", flat=True
        )
        assert len(ids) == len(set(ids))


async def test_two_workers_never_store_one_conversation_twice(
    client: UnipileClient, demo: None
) -> None:
    accounts = {account.unipile_id: account for account in await Account.all()}
    conversations = demo_conversations(12)
    for unipile_id, external_id in conversations:
        await enqueue_store(accounts[unipile_id].id, external_id, REASON)
    first, second = StoreWorker(client), StoreWorker(client)
    ran = await asyncio.gather(first.run_pending(), second.run_pending())
    assert sum(ran) == len(conversations)
    assert await StoreJob.filter(state=JobState.DONE, attempts=1).count() == len(conversations)
    assert await Conversation.all().count() == len(conversations)


async def test_a_failing_job_is_retried_with_backoff(
    client: UnipileClient, sandbox: Sandbox, whatsapp: Account
) -> None:
    chat_id = demo_chat(group=False)
    await enqueue_store(whatsapp.id, chat_id, REASON)
    await sandbox.post("/_sandbox/faults", {"disconnected_accounts": [whatsapp.unipile_id]})
    waiting = StoreWorker(client, retry=RetryPolicy(max_attempts=2, first_delay=60))
    assert await waiting.run_pending() == 1
    job = await StoreJob.get()
    assert (job.state, job.attempts, job.claimed_by) == (JobState.FAILED, 1, None)
    assert job.next_attempt_at is not None and job.next_attempt_at > datetime.now(UTC)
    assert job.last_error is not None and "AccountDisconnected" in job.last_error
    assert await waiting.run_pending() == 0  # not before its retry time

    await sandbox.post("/_sandbox/faults", {"disconnected_accounts": []})
    await StoreJob.all().update(next_attempt_at=datetime.now(UTC))
    assert await waiting.run_pending() == 1
    job = await StoreJob.get()
    assert (job.state, job.attempts, job.last_error) == (JobState.DONE, 2, None)
    assert await Conversation.filter(external_id=chat_id).count() == 1


async def test_a_job_is_given_up_after_its_last_attempt(
    client: UnipileClient, whatsapp: Account
) -> None:
    await enqueue_store(whatsapp.id, "no-such-chat", REASON)
    worker = StoreWorker(client, retry=RetryPolicy(max_attempts=2, first_delay=0))
    assert await worker.run_pending() == 2
    job = await StoreJob.get()
    assert (job.state, job.attempts, job.next_attempt_at) == (JobState.FAILED, 2, None)
    assert await Conversation.all().count() == 0


async def test_a_job_enqueued_while_it_runs_runs_again(
    client: UnipileClient, sandbox: Sandbox, whatsapp: Account
) -> None:
    chat_id = demo_chat(group=False)
    await enqueue_store(whatsapp.id, chat_id, REASON)
    await sandbox.post("/_sandbox/faults", {"latency_ms": 200})
    worker = StoreWorker(client)
    running = asyncio.create_task(worker.process_pending())
    try:

        async def claimed() -> bool:
            return await StoreJob.filter(claimed_by__isnull=False).exists()

        await eventually(claimed)
        await enqueue_store(whatsapp.id, chat_id, REASON)
    finally:
        assert await running == 1
    job = await StoreJob.get()
    assert (job.state, job.claimed_by, job.generation) == (JobState.PENDING, None, 2)
    await sandbox.post("/_sandbox/faults", {"latency_ms": 0})
    assert await worker.run_pending() == 1
    assert (await StoreJob.get()).state is JobState.DONE


async def test_an_enqueue_is_one_statement_and_leaves_a_waiting_job_alone(
    whatsapp: Account,
) -> None:
    chat_id = demo_chat(group=False)
    with count_queries() as counter:
        await enqueue_store(whatsapp.id, chat_id, REASON)
    assert counter.value == 1
    for _ in range(5):
        await enqueue_store(whatsapp.id, chat_id, REASON)
    job = await StoreJob.get()
    assert (job.state, job.generation, job.reason) == (JobState.PENDING, 1, REASON)


async def test_a_forgotten_conversation_is_neither_enqueued_nor_run(
    client: UnipileClient, whatsapp: Account
) -> None:
    (_, forgotten_chat), (_, other) = demo_conversations(4)[:2]  # two WhatsApp chats
    await enqueue_store(whatsapp.id, forgotten_chat, REASON)
    await enqueue_store(whatsapp.id, other, REASON)
    await forget_automatic_storage(whatsapp.id, forgotten_chat)  # its pending job is dropped
    await forget_automatic_storage(whatsapp.id, "never-enqueued")
    await enqueue_store(whatsapp.id, forgotten_chat, StorageReason.COMPANY_MATCH)
    await enqueue_store(whatsapp.id, "never-enqueued", REASON)
    worker = StoreWorker(client)
    assert await worker.run_pending() == 1
    stored = await Conversation.all().values_list("external_id", flat=True)
    assert stored == [other]
    forgotten = await StoreJob.filter(forgotten_at__isnull=False).order_by("id")
    assert [job.external_id for job in forgotten] == [forgotten_chat, "never-enqueued"]
    assert {job.state for job in forgotten} == {JobState.DONE}

    # A user's store or link clears the mark: automatic storage may queue it again.
    await allow_automatic_storage(whatsapp.id, forgotten_chat)
    await enqueue_store(whatsapp.id, forgotten_chat, REASON)
    assert await worker.run_pending() == 1
    assert await Conversation.filter(external_id=forgotten_chat).exists()


async def test_scheduling_a_conversation_again_while_it_is_pending_writes_nothing(
    client: UnipileClient, whatsapp: Account
) -> None:
    conversations = [external_id for _, external_id in demo_conversations(6)[:3]]
    worker = StoreWorker(client)
    auto = AutoStore(worker)
    with count_queries() as counter:
        for _ in range(50):
            for external_id in conversations:
                auto.schedule(whatsapp.id, external_id, REASON)
        assert await auto.flush() == len(conversations)
    assert counter.value == len(conversations)  # one upsert each
    jobs = await StoreJob.all()
    assert sorted(job.external_id for job in jobs) == sorted(conversations)
    assert {job.generation for job in jobs} == {1}

    # Once this process's worker has run a job, the conversation may be scheduled again.
    assert await worker.run_pending() == len(conversations)
    auto.schedule(whatsapp.id, conversations[0], REASON)
    auto.schedule(whatsapp.id, conversations[0], REASON)
    assert await auto.flush() == 1
    # As long as it waits elsewhere, for at most `dedupe_seconds`.
    brief = AutoStore(StoreWorker(client), dedupe_seconds=0)
    brief.schedule(whatsapp.id, conversations[1], REASON)
    brief.schedule(whatsapp.id, conversations[1], REASON)
    assert await brief.flush() == 2


async def test_a_read_older_than_the_end_of_a_job_does_not_schedule_it_again(
    client: UnipileClient, whatsapp: Account
) -> None:
    [(_, external_id)] = demo_conversations(6)[:1]
    worker = StoreWorker(client)
    auto = AutoStore(worker)
    read_before_the_job_ended = time.monotonic()
    auto.schedule(whatsapp.id, external_id, REASON, seen_at=read_before_the_job_ended)
    assert await auto.flush() == 1
    assert await worker.run_pending() == 1
    # That read's facts were loaded before the copy was committed: they say unstored.
    auto.schedule(whatsapp.id, external_id, REASON, seen_at=read_before_the_job_ended)
    assert await auto.flush() == 0
    auto.schedule(whatsapp.id, external_id, REASON, seen_at=time.monotonic())
    assert await auto.flush() == 1
    assert [job.generation for job in await StoreJob.all()] == [2]


async def test_a_job_of_a_disconnected_account_stores_nothing_and_asks_nothing(
    client: UnipileClient, sandbox: Sandbox, whatsapp: Account
) -> None:
    chat_id = demo_chat(group=False)
    await enqueue_store(whatsapp.id, chat_id, REASON)
    await Account.filter(id=whatsapp.id).update(detached_at=datetime.now(UTC))
    with count_requests() as upstream:
        assert await StoreWorker(client).run_pending() == 1
    assert upstream.value == 0
    assert await Conversation.all().count() == 0
    job = await StoreJob.get()
    assert (job.state, job.attempts, job.last_error) == (JobState.DONE, 1, None)
