"""Storage sweeps: a change of the rules queues, in the background, each recent conversation they
now store automatically, once; sweeps are one per burst of changes, resumable, and bounded.

The first test goes through the served app (the rules changed over GraphQL, the app's sweeper and
store worker at work); the others run a sweeper of their own over the sandbox, to set up its rows
by hand and count its upstream calls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from core.ids import from_global_id
from core.vocabulary import Channel, JobState, StorageAction
from crm import StorageRule
from crm.rules import RuleConditions
from crm.storage import load_storage_rules
from crm.storage_rules import replace_storage_rules
from db.models import Account, Conversation, StorageSweep, StoreJob, User
from db.versions import versions_for
from inbox.live_cache import LiveCache
from inbox.loaders import AttendeeCache
from storing.sweeps import SWEEP_CONVERSATIONS, StorageSweeper, request_sweep
from tests.crm_mutations.graphql import mutation, succeed
from tests.inbox.conftest import Inbox
from tests.realtime.conftest import eventually
from tests.storing.conftest import Sandbox
from unipile import UnipileClient
from unipile.sandbox import build_demo
from unipile.sandbox.demo import ALICE_WHATSAPP_ID, WHATSAPP_ID

SET_RULES = mutation("setStorageRules", "StorageRulesInput", "rules { rules { id name } }")
WHATSAPP_CHATS = """query($first: Int) { conversations(first: $first,
    filter: {channels: [WHATSAPP]}) { edges { node {
    id externalId account { id } storage { stored shouldStore reason rule { id name } }
} } } }"""
STORE = (
    "mutation($input: ConversationInput!) { storeConversation(input: $input) { conversation { "
    "storage { stored } } error { code } } }"
)
MATCHED_WHATSAPP = {
    "name": "WhatsApp chats with a CRM match",
    "action": "STORE",
    "channels": ["WHATSAPP"],
    "match": "EITHER",
}
# Within the sweep's wait: its sweeper polls every 5 s, then stores a few dozen chats.
WITHIN = 60.0


async def whatsapp_chats(inbox: Inbox, user: str) -> list[dict[str, Any]]:
    result = await inbox.query(WHATSAPP_CHATS, {"first": SWEEP_CONVERSATIONS}, user=user)
    assert "errors" not in result, result["errors"]
    return [edge["node"] for edge in result["data"]["conversations"]["edges"]]


async def sweeps_done() -> bool:
    return (
        await StorageSweep.exists() and not await StorageSweep.exclude(state=JobState.DONE).exists()
    )


async def jobs_done() -> bool:
    return not await StoreJob.exclude(state=JobState.DONE).exists()


async def test_a_rule_change_queues_each_conversation_it_stores_once_and_stores_it(
    inbox: Inbox,
) -> None:
    # WhatsApp chats are only suggested by default: reading them queues none.
    alice_before = await whatsapp_chats(inbox, "alice")
    assert not await StoreJob.exists()
    kept = next(n for n in alice_before if n["storage"]["shouldStore"])
    stored = await inbox.query(STORE, {"input": {"conversationId": kept["id"]}})
    assert stored["data"]["storeConversation"]["error"] is None
    alice = await User.get(email="alice@demo.switchboard.test")

    saved = await succeed(inbox, SET_RULES, {"rules": [MATCHED_WHATSAPP]})
    rule = saved["rules"]["rules"][0]
    assert rule["name"] == MATCHED_WHATSAPP["name"]
    await request_sweep(alice.workspace_id)

    await eventually(sweeps_done, within=WITHIN)
    await eventually(jobs_done, within=WITHIN)
    # The mutation's own request, and this test's if the app's sweeper had started on that one.
    assert await StorageSweep.all().count() in (1, 2)
    whatsapp = {a.id for a in await whatsapp_accounts()}
    everything = await StoreJob.all()
    jobs = {(j.account_id, j.external_id): j for j in everything if j.account_id in whatsapp}
    # The email accounts' conversations are swept too, stored by their channel's AUTO policy.
    others = {j.rule_id for j in everything if j.account_id not in whatsapp}
    assert others == {"policy-email"}

    # After the fact, the inbox as each owner sees it: what the rule stores, and which was kept.
    nodes = await whatsapp_chats(inbox, "alice") + await whatsapp_chats(inbox, "bob")
    by_rule = [n for n in nodes if (n["storage"]["rule"] or {}).get("id") == rule["id"]]
    assert kept["externalId"] in {n["externalId"] for n in by_rule}
    expected = {
        (int(from_global_id(n["account"]["id"])[1]), n["externalId"])
        for n in by_rule
        if n["externalId"] != kept["externalId"]
    }
    assert {account_id for account_id, _ in expected} == whatsapp
    assert set(jobs) == expected
    rule_id = from_global_id(rule["id"])[1]
    for job in jobs.values():
        assert job.rule_id == rule_id
        assert job.reason in ("CONTACT_MATCH", "COMPANY_MATCH")
    copies = await Conversation.filter(external_id__in=[e for _, e in expected])
    assert {(c.account_id, c.external_id) for c in copies} == expected
    assert {c.storage_reason for c in copies} <= {"CONTACT_MATCH", "COMPANY_MATCH"}
    assert all(n["storage"]["stored"] for n in by_rule)


async def test_requests_in_a_burst_make_one_sweep(demo: None) -> None:
    alice = await User.get(email="alice@demo.switchboard.test")
    await request_sweep(alice.workspace_id)
    await request_sweep(alice.workspace_id)
    [waiting] = await StorageSweep.all()
    assert (waiting.state, waiting.progress, waiting.claimed_by) == (JobState.PENDING, {}, None)

    # Once a sweep has started, it may have read the rules before the change: another waits.
    await StorageSweep.filter(id=waiting.id).update(
        claimed_by="elsewhere#1", claimed_at=datetime.now(UTC)
    )
    await request_sweep(alice.workspace_id)
    await request_sweep(alice.workspace_id)
    assert await StorageSweep.filter(claimed_by__isnull=True).count() == 1
    assert await StorageSweep.all().count() == 2


@dataclass(frozen=True)
class Sweeping:
    sweeper: StorageSweeper
    sandbox: Sandbox
    workspace_id: int
    rule: StorageRule

    async def upstream_calls(self) -> dict[str, dict[str, int]]:
        async with httpx.AsyncClient(base_url=self.sandbox.url) as http:
            found: dict[str, dict[str, int]] = (await http.get("/_sandbox/stats/accounts")).json()[
                "accounts"
            ]
        return found


async def store_every(workspace_id: int, user_id: int, channel: Channel) -> StorageRule:
    """A rule storing every conversation of `channel`, in place; the rule as saved."""
    draft = StorageRule(
        id="",
        name=f"Every {channel.value} conversation",
        action=StorageAction.STORE,
        conditions=RuleConditions(channels=frozenset({channel})),
    )
    await replace_storage_rules(workspace_id, user_id, [draft], None)
    rule = (await load_storage_rules(workspace_id)).rules[0]
    assert rule.name == draft.name
    return rule


@pytest.fixture
async def sweeping(demo: None, client: UnipileClient, sandbox: Sandbox) -> AsyncIterator[Sweeping]:
    alice = await User.get(email="alice@demo.switchboard.test")
    rule = await store_every(alice.workspace_id, alice.id, Channel.WHATSAPP)
    cache = LiveCache(client, versions_for(None), ttl=0)
    yield Sweeping(StorageSweeper(cache, AttendeeCache()), sandbox, alice.workspace_id, rule)
    await cache.aclose()


async def whatsapp_accounts() -> tuple[Account, Account]:
    return (
        await Account.get(unipile_id=WHATSAPP_ID),
        await Account.get(unipile_id=ALICE_WHATSAPP_ID),
    )


async def queued_of(account: Account) -> set[str]:
    return {job.external_id for job in await StoreJob.filter(account_id=account.id)}


async def workspace_accounts(workspace_id: int) -> list[int]:
    return [
        account.id for account in await Account.filter(workspace_id=workspace_id).order_by("id")
    ]


async def test_a_sweep_skips_the_accounts_its_progress_lists(sweeping: Sweeping) -> None:
    bobs, alices = await whatsapp_accounts()
    sweep = await StorageSweep.create(
        workspace_id=sweeping.workspace_id,
        requested_at=datetime.now(UTC),
        progress={"accounts": [bobs.id]},
    )
    assert await sweeping.sweeper.run_pending() == 1

    assert await queued_of(bobs) == set()
    assert len(await queued_of(alices)) > 0
    done = await StorageSweep.get(id=sweep.id)
    assert (done.state, done.attempts, done.claimed_by) == (JobState.DONE, 1, None)
    every = await workspace_accounts(sweeping.workspace_id)
    assert done.progress == {"accounts": [bobs.id, *(a for a in every if a != bobs.id)]}


async def test_a_dead_workers_sweep_is_taken_over_and_finished(sweeping: Sweeping) -> None:
    bobs, alices = await whatsapp_accounts()
    # A detached account is no longer read live: no sweep reads it.
    await Account.filter(id=alices.id).update(detached_at=datetime.now(UTC))
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    sweep = await StorageSweep.create(
        workspace_id=sweeping.workspace_id,
        requested_at=long_ago,
        claimed_by="dead-host:1:0#1",
        claimed_at=long_ago,
    )
    assert await sweeping.sweeper.run_pending() == 1

    done = await StorageSweep.get(id=sweep.id)
    assert (done.state, done.claimed_by, done.finished_at is not None) == (
        JobState.DONE,
        None,
        True,
    )
    every = await workspace_accounts(sweeping.workspace_id)
    assert done.progress == {"accounts": [a for a in every if a != alices.id]}
    assert len(await queued_of(bobs)) > 0
    assert await queued_of(alices) == set()


def newest_chats(unipile_id: str, count: int) -> list[str]:
    chats = [chat for chat in build_demo(7).chats if chat["account_id"] == unipile_id]
    chats.sort(key=lambda chat: (chat["timestamp"], chat["id"]), reverse=True)
    return [str(chat["id"]) for chat in chats[:count]]


async def test_a_sweep_reads_only_each_accounts_most_recent_conversations(
    sweeping: Sweeping,
) -> None:
    bobs, alices = await whatsapp_accounts()
    assert len(newest_chats(WHATSAPP_ID, 1_000)) > SWEEP_CONVERSATIONS
    async with httpx.AsyncClient(base_url=sweeping.sandbox.url) as http:
        await http.post("/_sandbox/stats/reset")
    await request_sweep(sweeping.workspace_id)
    assert await sweeping.sweeper.run_pending() == 1

    calls = await sweeping.upstream_calls()
    # One page of each WhatsApp account's chat list, of one more chat than a sweep decides.
    assert calls[WHATSAPP_ID]["GET /api/v1/chats"] == 1
    assert calls[ALICE_WHATSAPP_ID]["GET /api/v1/chats"] == 1
    queued = await queued_of(bobs)
    assert queued <= set(newest_chats(WHATSAPP_ID, SWEEP_CONVERSATIONS))
    assert len(queued) > SWEEP_CONVERSATIONS * 0.9
    jobs = await StoreJob.filter(account_id=bobs.id)
    assert {job.rule_id for job in jobs} == {sweeping.rule.id}
    assert {job.reason for job in jobs} <= {"RULE", "CONTACT_MATCH", "COMPANY_MATCH"}
    assert await queued_of(alices) <= set(newest_chats(ALICE_WHATSAPP_ID, SWEEP_CONVERSATIONS))

    # Swept again while its jobs wait: each conversation stays queued once.
    await request_sweep(sweeping.workspace_id)
    assert await sweeping.sweeper.run_pending() == 1
    assert await queued_of(bobs) == queued
    assert not await StoreJob.filter(generation__gt=1).exists()


async def test_an_account_failing_upstream_is_swept_again_later_alone(sweeping: Sweeping) -> None:
    bobs, alices = await whatsapp_accounts()
    await sweeping.sandbox.post("/_sandbox/faults", {"disconnected_accounts": [WHATSAPP_ID]})
    await request_sweep(sweeping.workspace_id)
    assert await sweeping.sweeper.run_pending() == 1

    failed = await StorageSweep.get()
    assert (failed.state, failed.attempts) == (JobState.FAILED, 1)
    assert failed.next_attempt_at is not None and failed.last_error
    assert bobs.id not in failed.progress["accounts"]
    assert alices.id in failed.progress["accounts"]
    alices_jobs = await queued_of(alices)
    assert alices_jobs and await queued_of(bobs) == set()

    await sweeping.sandbox.post("/_sandbox/faults", {"disconnected_accounts": []})
    await StorageSweep.filter(id=failed.id).update(next_attempt_at=datetime.now(UTC))
    assert await sweeping.sweeper.run_pending() == 1
    done = await StorageSweep.get()
    assert (done.state, done.attempts) == (JobState.DONE, 2)
    assert done.last_error is None
    assert len(await queued_of(bobs)) > 0
    # Alice's account was not swept again: its jobs were armed once.
    assert await StoreJob.filter(account_id=alices.id, generation__gt=1).count() == 0
    assert await queued_of(alices) == alices_jobs
