"""A storage rule's sync limits bound what automatic storage keeps of the conversations it stores:
at most `messagesPerConversation` messages, none older than `daysBack` days; the channel's limits
where the rule sets none, where no rule of the workspace's decided, or where the rule is gone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.ids import int_key
from core.vocabulary import Channel, JobState, StorageAction, StorageReason
from crm.rules import RuleLimits, StorageRule
from crm.storage import SYNC_LIMITS, SyncLimits, sync_limits
from db.models import Account, Conversation, Message, StorageRuleRow, StoreJob
from server.app import create_app
from server.webhooks import register_webhooks
from storing.jobs import StoreWorker, enqueue_store
from tests.crm_mutations.graphql import SET_POLICY, succeed
from tests.crm_mutations.test_storage_rule_lists import SET_RULES
from tests.inbox.conftest import SANDBOX_KEY, WEBHOOK_SECRET, Inbox, inbox_settings
from tests.storing.test_automatic_storage import eventually, queue_drained, sweeps_done
from unipile import UnipileClient
from unipile.sandbox.testing import running_app

PAGE = """{ conversations(first: 50) { edges { node {
  id externalId channel account { id } storage { stored shouldStore rule { name } } } } } }"""
MESSAGES = """query($id: ID!) { node(id: $id) { ... on Conversation {
  messages(first: 100) { edges { node { externalId sentAt } } } } } }"""
SUGGESTED = "Suggested for now"


# -- the limits of a rule over a channel's ------------------------------------------------------


def rule_limiting(**limits: int) -> StorageRule:
    return StorageRule(id="7", name="r", action=StorageAction.STORE, limits=RuleLimits(**limits))


@pytest.mark.parametrize("channel", list(Channel))
def test_a_rule_sets_the_limits_it_names_and_leaves_the_others_to_its_channel(
    channel: Channel,
) -> None:
    default = SYNC_LIMITS[channel]
    assert sync_limits(channel) == default
    assert sync_limits(channel, None) == default
    assert sync_limits(channel, rule_limiting()) == default
    assert sync_limits(channel, rule_limiting(retention_days=3)) == default
    assert sync_limits(channel, rule_limiting(days_back=3)) == SyncLimits(
        default.max_conversations, default.max_messages_per_conversation, 3
    )
    assert sync_limits(channel, rule_limiting(messages_per_conversation=2)) == SyncLimits(
        default.max_conversations, 2, default.days_back
    )
    both = rule_limiting(days_back=400, messages_per_conversation=5_000)
    assert sync_limits(channel, both) == SyncLimits(default.max_conversations, 5_000, 400)


# -- through the served app ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Live:
    """A matched conversation as UniPile has it, before anything stored it."""

    node: dict[str, Any]
    messages: list[tuple[str, datetime]]
    """(external id, sent at), newest first."""

    @property
    def channel(self) -> Channel:
        return Channel(self.node["channel"])


async def page(inbox: Inbox) -> list[dict[str, Any]]:
    result = await inbox.query(PAGE)
    assert "errors" not in result, result["errors"]
    return [edge["node"] for edge in result["data"]["conversations"]["edges"]]


async def suggested_live(inbox: Inbox) -> list[Live]:
    """The matched conversations, live, while nothing stores them: a first rule suggests every
    match, and the email channel's policy suggests too (once the rules are gone)."""
    await succeed(inbox, SET_POLICY, {"channel": "EMAIL", "policy": "MANUAL"})
    await succeed(
        inbox, SET_RULES, {"rules": [{"name": SUGGESTED, "action": "SUGGEST", "match": "EITHER"}]}
    )
    found = []
    for node in await page(inbox):
        if node["storage"]["shouldStore"]:
            assert node["storage"]["stored"] is False
            result = await inbox.query(MESSAGES, {"id": node["id"]})
            assert "errors" not in result, result["errors"]
            edges = result["data"]["node"]["messages"]["edges"]
            messages = [(e["node"]["externalId"], parse(e["node"]["sentAt"])) for e in edges]
            found.append(Live(node, messages))
    assert not await Conversation.exists()
    return found


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


async def stored_ids(external_id: str) -> list[str]:
    rows = await Message.filter(conversation__external_id=external_id).only("external_id")
    return [row.external_id for row in rows]


async def store_by_reading(inbox: Inbox, wanted: list[Live]) -> tuple[datetime, datetime]:
    """Read the inbox, so that it queues `wanted`, and wait until they are stored; when the
    stores started (at the latest) and ended (at the earliest)."""
    started = datetime.now(UTC)
    await page(inbox)

    async def all_stored() -> bool:
        ids = [live.node["externalId"] for live in wanted]
        stored = await Conversation.filter(external_id__in=ids).count() == len(ids)
        return stored and await queue_drained()

    await eventually(all_stored)
    return started, datetime.now(UTC)


def assert_kept(
    live: Live, kept: list[str], limits: SyncLimits, started: datetime, ended: datetime
) -> None:
    """`kept` is the newest of `live`'s messages, within `limits` as of a moment between `started`
    and `ended` (the store's clock)."""
    newest = {external_id for external_id, _ in live.messages[: len(kept)]}
    assert set(kept) == newest, live.node["externalId"]

    def within(since: datetime) -> int:
        return min(recent(live, since), limits.max_messages_per_conversation)

    window = timedelta(days=limits.days_back)
    assert within(ended - window) <= len(kept) <= within(started - window), live.node


def recent(live: Live, since: datetime) -> int:
    return sum(1 for _, sent_at in live.messages if sent_at >= since)


async def rule_id_of_row() -> str:
    [row] = await StorageRuleRow.all()
    return str(row.id)


async def test_a_rules_message_limit_bounds_what_its_conversations_keep(inbox: Inbox) -> None:
    matched = await suggested_live(inbox)
    limited = {"name": "Two messages each", "action": "STORE", "match": "EITHER"}
    await succeed(inbox, SET_RULES, {"rules": [limited | {"messagesPerConversation": 2}]})
    rule_id = await rule_id_of_row()

    started, ended = await store_by_reading(inbox, matched)
    assert {live.channel for live in matched} > {Channel.EMAIL}  # chats as well as email
    for live in matched:
        kept = await stored_ids(live.node["externalId"])
        limits = SyncLimits(0, 2, sync_limits(live.channel).days_back)
        assert_kept(live, kept, limits, started, ended)
        job = await StoreJob.get(external_id=live.node["externalId"])
        assert (job.rule_id, job.state) == (rule_id, JobState.DONE)
    # The limit took something away: some conversation had more within the channel's days.
    assert any(recent(live, ended - timedelta(days=30)) > 2 for live in matched)


async def test_a_rules_days_back_leaves_out_what_is_older(inbox: Inbox) -> None:
    days = 12
    matched = await suggested_live(inbox)
    recent = {"name": "Recent", "action": "STORE", "match": "EITHER", "daysBack": days}
    await succeed(inbox, SET_RULES, {"rules": [recent]})

    started, ended = await store_by_reading(inbox, matched)
    for live in matched:
        kept = await stored_ids(live.node["externalId"])
        limits = SyncLimits(0, sync_limits(live.channel).max_messages_per_conversation, days)
        assert_kept(live, kept, limits, started, ended)
        sent = dict(live.messages)
        assert all(sent[external_id] >= started - timedelta(days=days) for external_id in kept)
    # Some message within the channel's 30 days was older than the rule's.
    assert any(
        started - timedelta(days=30) < sent_at < ended - timedelta(days=days)
        for live in matched
        for _, sent_at in live.messages
    )


async def test_without_a_rule_of_the_workspaces_the_channel_keeps_its_limits(
    inbox: Inbox,
) -> None:
    matched = await suggested_live(inbox)
    emails = [live for live in matched if live.channel is Channel.EMAIL]
    await succeed(inbox, SET_RULES, {"rules": []})
    await eventually(sweeps_done)
    # Storing email on sight sweeps the workspace too: it may store more than this read.
    started = datetime.now(UTC)
    await succeed(inbox, SET_POLICY, {"channel": "EMAIL", "policy": "AUTO"})

    _, ended = await store_by_reading(inbox, emails)
    await eventually(sweeps_done)
    await eventually(queue_drained)
    stored = {c.external_id for c in await Conversation.all()}
    assert {live.node["externalId"] for live in emails} <= stored
    jobs = await StoreJob.filter(external_id__in=list(stored))
    assert {job.rule_id for job in jobs} == {"policy-email"}
    sizes = []
    for live in emails:
        kept = await stored_ids(live.node["externalId"])
        assert_kept(live, kept, sync_limits(Channel.EMAIL), started, ended)
        sizes.append(len(kept))
        job = await StoreJob.get(external_id=live.node["externalId"])
        assert job.rule_id == "policy-email"
    # More than a rule of two messages keeps.
    assert max(sizes) > 2


async def test_a_job_whose_rule_was_deleted_keeps_the_channels_limits(inbox: Inbox) -> None:
    matched = await suggested_live(inbox)
    limited = {"name": "Two", "action": "SUGGEST", "match": "EITHER", "messagesPerConversation": 2}
    await succeed(inbox, SET_RULES, {"rules": [limited]})
    deleted = await rule_id_of_row()
    await succeed(inbox, SET_RULES, {"rules": []})
    assert not await StorageRuleRow.exists()
    since = datetime.now(UTC) - timedelta(days=30)
    live = max(
        (live for live in matched if live.channel is Channel.EMAIL),
        key=lambda live: recent(live, since),
    )
    account_id = int_key(live.node["account"]["id"], "Account")

    started = datetime.now(UTC)
    await enqueue_store(
        account_id, live.node["externalId"], StorageReason.CONTACT_MATCH, rule_id=deleted
    )
    async with httpx.AsyncClient() as http:
        worker = StoreWorker(UnipileClient(http, inbox.sandbox, SANDBOX_KEY))
        await worker.run_pending()

    async def its_job_done() -> bool:
        return await StoreJob.filter(state=JobState.DONE).exists()

    await eventually(its_job_done)
    ended = datetime.now(UTC)
    kept = await stored_ids(live.node["externalId"])
    assert_kept(live, kept, sync_limits(Channel.EMAIL), started, ended)
    assert len(kept) > 2


@pytest.fixture
async def hooked(
    database: str, demo_tokens: dict[str, str], sandbox_url: str, tmp_path: Path
) -> AsyncIterator[Inbox]:
    """The served app, told of new messages by the sandbox's webhooks."""
    app = create_app(inbox_settings(database, tmp_path, sandbox_url))
    with running_app(app) as url:
        async with httpx.AsyncClient() as http:
            client = UnipileClient(http, sandbox_url, SANDBOX_KEY)
            await register_webhooks(client, url=url, secret=WEBHOOK_SECRET)
        yield Inbox(url=url, sandbox=sandbox_url, tokens=demo_tokens)


async def test_a_new_email_stores_its_thread_within_the_rule_that_decided(hooked: Inbox) -> None:
    matched = await suggested_live(hooked)
    since = datetime.now(UTC) - timedelta(days=30)
    live = next(
        live for live in matched if live.channel is Channel.EMAIL and recent(live, since) >= 2
    )
    limited = {"name": "Two", "action": "STORE", "match": "EITHER", "messagesPerConversation": 2}
    await succeed(hooked, SET_RULES, {"rules": [limited]})
    rule_id = await rule_id_of_row()
    account = await Account.get(id=int_key(live.node["account"]["id"], "Account"))

    # No read of the inbox: the webhook of the new email queues the thread.
    posted = await hooked.sandbox_post(
        "/_sandbox/messages",
        {"account_id": account.unipile_id, "thread_id": live.node["externalId"], "text": "more"},
    )
    assert posted.is_success, posted.text

    async def stored() -> bool:
        return await Conversation.exists(external_id=live.node["externalId"])

    await eventually(stored)
    await eventually(queue_drained)
    kept = set(await stored_ids(live.node["externalId"]))
    assert len(kept) == 2
    assert live.messages[0][0] in kept  # the newest before, and the new one
    job = await StoreJob.get(external_id=live.node["externalId"])
    assert job.rule_id == rule_id


async def test_a_waiting_job_queued_again_by_another_rule_takes_that_rule(
    whatsapp: Account,
) -> None:
    await enqueue_store(whatsapp.id, "chat", StorageReason.CONTACT_MATCH, rule_id="1")
    await enqueue_store(whatsapp.id, "chat", StorageReason.CONTACT_MATCH, rule_id="1")
    job = await StoreJob.get()
    assert (job.rule_id, job.generation) == ("1", 1)  # the same rule: left waiting as it was
    await enqueue_store(whatsapp.id, "chat", StorageReason.CONTACT_MATCH, rule_id="2")
    await enqueue_store(whatsapp.id, "chat", StorageReason.CONTACT_MATCH)
    job = await StoreJob.get()
    assert (job.rule_id, job.generation, job.state) == (None, 3, JobState.PENDING)
