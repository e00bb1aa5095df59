"""Purging unmatched stored copies and a rule's retention, from the outside: the served app over the
sandbox's demo data (alice an admin, bob a member); emails matched on alice's first page are
stored automatically first, then the rules change under them."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from core.ids import from_global_id, to_global_id
from db.models import Account, Conversation, StorageAuditEntry
from inbox.loaders import AttendeeCache
from storing.pruning import RetentionRunner
from tests.crm_mutations.graphql import fail, mutation, succeed
from tests.inbox.conftest import SANDBOX_KEY, Inbox
from tests.storing.test_automatic_storage import eventually, queue_drained, sweeps_done
from unipile import UnipileClient

PAGE = """{ conversations(first: 50, filter: {channels: [EMAIL]}) { edges { node {
  id externalId account { id } storage { stored shouldStore reason } } } } }"""
PRUNABLE = """query($kind: PruneKind!) { prunableConversations(kind: $kind) {
  conversationId lastActivityAt reason rule { name } account { id } } }"""
DELETED = "deleted { conversationId reason }"
SET_RULES = mutation("setStorageRules", "StorageRulesInput", "rules { ownDomains }")
PURGE = mutation("purgeUnmatched", "PruneInput", DELETED)
EXPIRE = mutation("expireStoredConversations", "PruneInput", DELETED)
STORE = (
    "mutation($input: ConversationInput!) { storeConversation(input: $input) { error { code } } }"
)
GMAIL = "acc_gmail_demo_000001"


async def settled() -> None:
    """Once a rule change's sweep, and the storage it queued, are over."""
    await eventually(sweeps_done)
    await eventually(queue_drained)


async def stored_automatically(inbox: Inbox) -> list[dict[str, Any]]:
    """alice's first page of email, once every conversation it stores automatically is."""
    result = await inbox.query(PAGE)
    nodes = [edge["node"] for edge in result["data"]["conversations"]["edges"]]
    wanted = [n for n in nodes if n["storage"]["shouldStore"]]
    assert wanted, "the demo inbox has matched email"
    for _ in range(200):
        if await Conversation.filter(external_id__in=[n["externalId"] for n in wanted]).count() == (
            len(wanted)
        ):
            return wanted
        await asyncio.sleep(0.05)
    raise AssertionError("automatic storage did not store the page's matched email")


async def gmail_id() -> str:
    return to_global_id("Account", (await Account.get(unipile_id=GMAIL)).id)


async def dry_run(inbox: Inbox, kind: str, user: str = "alice") -> list[dict[str, Any]]:
    result = await inbox.query(PRUNABLE, {"kind": kind}, user=user)
    assert "errors" not in result, result["errors"]
    listed: list[dict[str, Any]] = result["data"]["prunableConversations"]
    return listed


async def stored_ids() -> set[str]:
    return {
        to_global_id("Conversation", f"{c.account_id}:{c.external_id}")
        for c in await Conversation.all()
    }


async def test_purge_deletes_exactly_what_its_dry_run_listed(inbox: Inbox) -> None:
    stored = await stored_automatically(inbox)
    gmail = await gmail_id()
    never = {"name": "Gmail: never", "action": "NEVER", "accountIds": [gmail]}
    await succeed(inbox, SET_RULES, {"rules": [never]})
    await settled()
    # A rule change deletes nothing by itself.
    assert {n["id"] for n in stored} <= await stored_ids()

    listed = await dry_run(inbox, "UNMATCHED")
    listed_ids = {item["conversationId"] for item in listed}
    expected = {n["id"] for n in stored if n["account"]["id"] == gmail}
    assert expected and listed_ids == expected
    assert all(item["rule"] == {"name": "Gmail: never"} for item in listed)
    kept = {n["id"] for n in stored} - listed_ids
    assert kept, "the other mailbox's copies stay"

    # Ids outside the dry run (a copy still kept, one that names nothing) are left alone.
    extra = [next(iter(kept)), to_global_id("Conversation", "999999:nothing")]
    payload = await succeed(inbox, PURGE, {"conversationIds": [*listed_ids, *extra]})
    assert {item["conversationId"] for item in payload["deleted"]} == listed_ids
    remaining = await stored_ids()
    assert not listed_ids & remaining and kept <= remaining

    [entry] = await StorageAuditEntry.filter(action="PURGED")
    audited = json.loads(entry.before)
    assert {f"{a['accountId']}:{a['externalId']}" for a in audited} == {
        from_global_id(i)[1] for i in listed_ids
    }
    assert all(set(item) == {"accountId", "externalId", "lastActivity", "rule"} for item in audited)
    assert await dry_run(inbox, "UNMATCHED") == []


async def test_a_copy_a_user_stored_is_never_purged(inbox: Inbox) -> None:
    stored = await stored_automatically(inbox)
    gmail = await gmail_id()
    mine = next(n for n in stored if n["account"]["id"] == gmail)
    result = await inbox.query(STORE, {"input": {"conversationId": mine["id"]}})
    assert result["data"]["storeConversation"]["error"] is None
    await succeed(inbox, SET_RULES, {"rules": [{"name": "x", "action": "NEVER"}]})
    await settled()
    listed = {item["conversationId"] for item in await dry_run(inbox, "UNMATCHED")}
    assert listed and mine["id"] not in listed
    await succeed(inbox, PURGE, {"conversationIds": [*listed, mine["id"]]})
    assert mine["id"] in await stored_ids()


async def test_a_member_can_neither_list_nor_purge(inbox: Inbox) -> None:
    await stored_automatically(inbox)
    await succeed(inbox, SET_RULES, {"rules": [{"name": "x", "action": "NEVER"}]})
    result = await inbox.query(PRUNABLE, {"kind": "UNMATCHED"}, user="bob")
    assert [e["extensions"]["code"] for e in result["errors"]] == ["FORBIDDEN"]
    listed = [item["conversationId"] for item in await dry_run(inbox, "UNMATCHED")]
    before = await stored_ids()
    error = await fail(inbox, PURGE, {"conversationIds": listed}, user="bob")
    assert error["code"] == "FORBIDDEN"
    assert await stored_ids() == before
    for bad in (["not-an-id"], [to_global_id("Contact", 1)]):
        error = await fail(inbox, PURGE, {"conversationIds": bad})
        assert (error["code"], error["field"]) == ("BAD_USER_INPUT", "conversationIds[0]")


async def age(conversation_id: str, days: float) -> None:
    account_id, external_id = from_global_id(conversation_id)[1].split(":", 1)
    when = datetime.now(UTC) - timedelta(days=days)
    await Conversation.filter(account_id=int(account_id), external_id=external_id).update(
        last_message_at=when
    )


async def test_retention_expires_only_what_its_dry_run_listed(inbox: Inbox) -> None:
    stored = await stored_automatically(inbox)
    keep = {
        "name": "Email: 30 days",
        "action": "STORE",
        "channels": ["EMAIL"],
        "match": "EITHER",
        "retentionDays": 30,
    }
    await succeed(inbox, SET_RULES, {"rules": [keep]})
    await settled()
    old, recent = stored[0]["id"], stored[1]["id"]
    await age(old, 31)
    await age(recent, 29)
    listed = await dry_run(inbox, "EXPIRED")
    assert old in {item["conversationId"] for item in listed}
    assert recent not in {item["conversationId"] for item in listed}
    assert all(item["rule"] == {"name": "Email: 30 days"} for item in listed)

    payload = await succeed(inbox, EXPIRE, {"conversationIds": [old, recent]})
    assert [item["conversationId"] for item in payload["deleted"]] == [old]
    remaining = await stored_ids()
    assert old not in remaining and recent in remaining


async def test_the_job_queue_applies_retention_with_no_user(inbox: Inbox) -> None:
    stored = await stored_automatically(inbox)
    rule = {"name": "Email: 7 days", "action": "STORE", "channels": ["EMAIL"], "match": "EITHER",
            "retentionDays": 7}  # fmt: skip
    await succeed(inbox, SET_RULES, {"rules": [rule]})
    await settled()
    aged, fresh = stored[:2], stored[2]
    for node in aged:
        await age(node["id"], 8)
    await age(fresh["id"], 1)
    listed = {item["conversationId"] for item in await dry_run(inbox, "EXPIRED")}
    assert {node["id"] for node in aged} <= listed
    assert fresh["id"] not in listed

    async with httpx.AsyncClient() as http:
        runner = RetentionRunner(UnipileClient(http, inbox.sandbox, SANDBOX_KEY), AttendeeCache())
        assert await runner.run_once() == len(listed)
        assert await runner.run_once() == 0
    remaining = await stored_ids()
    assert not listed & remaining and fresh["id"] in remaining
    [entry] = await StorageAuditEntry.filter(action="EXPIRED")
    assert entry.user_id is None
    assert len(json.loads(entry.before)) == len(listed)
